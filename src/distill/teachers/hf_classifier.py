"""A Hugging Face sequence classifier fine-tuned elsewhere, used as the teacher as it is.

It is never trained here: it labels texts with its own tokenizer, its columns put in the
corpus's label order by name (``distill.teachers.label_map``). Any ``*ForSequenceClassification``
works (BERT, DistilBERT, RoBERTa, ...). Its weights and label mapping are hashed, so a store it
wrote is reused while they stay the same and re-made when either changes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from distill.errors import UserError
from distill.features.wordpiece import WordPieceFeatures
from distill.pretrained import WEIGHT_FILES, resolve_pretrained
from distill.teachers.label_map import column_order, map_labels, mapping_sha256, model_labels

UNREADABLE_WEIGHTS = (OSError, ValueError, RuntimeError, KeyError, EOFError)


def fine_tune_hint(pretrained: str) -> str:
    return f"fine-tune it here with distill-train model=teacher_minilm teacher.pretrained={pretrained}"


def load_config(pretrained: str) -> tuple[str, Any]:
    """The folder (or hub name) ``pretrained`` resolves to, and its config: a classifier's."""
    from transformers import AutoConfig

    location = resolve_pretrained(pretrained)
    folder = Path(location)
    if not folder.exists() and location.startswith((".", "/", "~")):
        raise UserError(f"teacher.pretrained={pretrained}: no such folder; give the folder save_pretrained wrote")
    if folder.exists() and not (folder / "config.json").is_file():
        raise UserError(f"{folder / 'config.json'} does not exist: teacher.pretrained must be a folder written by "
                        "save_pretrained (config.json, weights, tokenizer files), or a hub name")
    try:
        config = AutoConfig.from_pretrained(location)
    except (OSError, ValueError) as error:
        raise UserError(f"teacher.pretrained={pretrained} is neither a model folder nor a hub model reachable here "
                        f"({str(error).splitlines()[0]}); give the folder save_pretrained wrote") from None
    architectures = config.architectures or []
    if architectures and not any(name.endswith("ForSequenceClassification") for name in architectures):
        raise UserError(f"{location} holds {architectures[0]}, an encoder without a classification head: "
                        f"{fine_tune_hint(pretrained)}")
    return location, config


def weights_file(location: str) -> str:
    """The weight file a load error is about: the first of ``WEIGHT_FILES`` the folder has."""
    folder = Path(location)
    return str(next((folder / name for name in WEIGHT_FILES if (folder / name).is_file()), folder / WEIGHT_FILES[0]))


def load_classifier(pretrained: str, location: str, config: Any) -> nn.Module:
    """The classifier with every weight from its files, in eval mode and float32 (half-precision
    checkpoints are widened exactly); a head that is missing (an encoder saved alone) or weights
    that do not load are refused."""
    from safetensors import SafetensorError

    from distill.nets.transformer import load_quietly

    try:
        model, info = load_quietly(location, config, output_loading_info=True, dtype=torch.float32)
    except (*UNREADABLE_WEIGHTS, SafetensorError) as error:
        raise UserError(f"{weights_file(location)}: the weights do not load ({type(error).__name__}: "
                        f"{str(error).splitlines()[0] if str(error) else ''}); re-save the model with "
                        "save_pretrained") from None
    prefix = f"{model.base_model_prefix}."
    missing = sorted(info["missing_keys"])
    if missing and not any(key.startswith(prefix) for key in missing):
        raise UserError(f"{location} has no trained classification head ({', '.join(missing)} would start at "
                        f"random): {fine_tune_hint(pretrained)}")
    if missing or info["mismatched_keys"]:
        wrong = missing or sorted(str(key) for key in info["mismatched_keys"])
        raise UserError(f"{weights_file(location)}: the weights do not match config.json ({len(wrong)} tensors "
                        f"missing or of another shape, e.g. {wrong[0]}); re-save the model with save_pretrained")
    return model.eval()


def weights_sha256(model: nn.Module) -> str:
    """SHA-256 over every tensor of the state dict (name, dtype, shape, bytes) in sorted name
    order: the same for a model saved as safetensors or as a PyTorch pickle."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        flat = tensor.detach().cpu().contiguous().reshape(-1)
        digest.update(f"{name}|{flat.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(flat.view(torch.uint8).numpy().data)
    return digest.hexdigest()


class ClassifierTeacher:
    """``logits(texts)`` -> float32 (N, classes) in the corpus's label order: a labeller.

    ``label_names`` are the corpus's classes; ``label_map`` maps the model's labels to them
    when the names differ. ``max_length=None`` is the tokenizer's limit (at most 512).
    Texts are batched by length (less padding), in eval mode with no gradients.
    """

    def __init__(
        self,
        pretrained: str,
        label_names: list[str],
        label_map: Mapping[str, str] | None = None,
        max_length: int | None = None,
        batch_size: int = 64,
        device: str | torch.device = "cpu",
    ) -> None:
        location, config = load_config(pretrained)
        self.pretrained, self.label_names, self.batch_size = pretrained, list(label_names), batch_size
        self.model_labels = model_labels(config.id2label, location)
        self.label_map = map_labels(self.model_labels, self.label_names, label_map, location)
        self.columns = column_order(self.model_labels, self.label_map, self.label_names)
        self.features = WordPieceFeatures(pretrained, max_length)
        positions = getattr(config, "max_position_embeddings", None)
        if positions is not None and self.max_length > positions:
            raise UserError(f"teacher.max_length={self.max_length} is longer than {location} reads "
                            f"({positions} positions); set teacher.max_length={positions} or less")
        self.device = torch.device(device)
        self.model = load_classifier(pretrained, location, config).to(self.device)
        self.weights_sha256 = weights_sha256(self.model)

    @property
    def tokenizer(self) -> Any:
        return self.features.tokenizer

    @property
    def max_length(self) -> int:
        return self.features.max_length

    def source(self) -> dict[str, Any]:
        """What a store of these logits records, so that a re-run reuses it and a changed model,
        tokenizer or mapping re-labels (``kind``, ``model`` and the run's signature are the caller's)."""
        return {"pretrained": self.pretrained, "max_length": self.max_length,
                "tokenizer_sha256": self.features.fingerprint(), "weights_sha256": self.weights_sha256,
                "label_map": dict(self.label_map),
                "label_map_sha256": mapping_sha256(self.model_labels, self.label_map)}

    def made(self, source: Mapping[str, Any]) -> bool:
        """Whether a store recording ``source`` (``distill.logit_store.recorded_source``) holds this
        teacher's logits: same model folder, weights, label mapping, tokenizer and max_length."""
        return all(source.get(key) == value for key, value in self.source().items())

    @torch.inference_mode()
    def logits(self, texts: list[str]) -> np.ndarray:
        rows = self.features.encode(list(texts))
        order = np.argsort([len(row) for row in rows], kind="stable")
        out = np.empty((len(rows), len(self.model_labels)), dtype=np.float32)
        for start in range(0, len(rows), self.batch_size):
            chosen = order[start : start + self.batch_size]
            inputs = self.features.collate([rows[i] for i in chosen])
            outputs = self.model(**{key: value.to(self.device) for key, value in inputs.items()})
            out[chosen] = outputs.logits.float().cpu().numpy()
        return out[:, self.columns]
