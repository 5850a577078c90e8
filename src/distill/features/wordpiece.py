"""The teacher's subword tokenizer (WordPiece, BPE, ...), shared by the teacher and the BiLSTM student."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import torch
from transformers import AutoTokenizer

from distill.atomic import write_text
from distill.errors import UserError
from distill.pretrained import resolve_pretrained

# Longest input a teacher reads when teacher.max_length is null: BERT-style position tables end here.
MAX_LENGTH_CAP = 512


def load_tokenizer(name_or_path: str):  # -> PreTrainedTokenizerFast
    """The fast tokenizer saved with a model (or named on the hub); a missing one is a UserError."""
    try:
        tokenizer = AutoTokenizer.from_pretrained(resolve_pretrained(name_or_path), use_fast=True)
    except (OSError, ValueError) as error:
        raise UserError(f"{name_or_path}: no tokenizer loads from it ({str(error).splitlines()[0]}); save the "
                        "model's tokenizer beside it (tokenizer.save_pretrained(folder))") from None
    if not tokenizer.is_fast:
        raise UserError(f"{name_or_path}: its tokenizer has no fast (tokenizers) implementation; "
                        "save a tokenizer.json with it (PreTrainedTokenizerFast.save_pretrained)")
    return tokenizer


def default_max_length(tokenizer) -> int:
    """The tokenizer's ``model_max_length``, capped at 512 (tokenizers saved without one report 1e30)."""
    return int(min(tokenizer.model_max_length, MAX_LENGTH_CAP))


class WordPieceFeatures:
    """Truncate to ``max_length`` tokens once, pad per batch (dynamic padding).

    Any fast tokenizer works, WordPiece or BPE: only ``input_ids`` and an attention mask are
    made (no ``token_type_ids``, which every model defaults to zeros for one sequence), and the
    tokenizer adds its own special tokens. ``max_length=None`` is the tokenizer's own limit.
    """

    def __init__(self, tokenizer: str, max_length: int | None = 256) -> None:
        self.name = tokenizer
        self.tokenizer = load_tokenizer(tokenizer)
        self.max_length = default_max_length(self.tokenizer) if max_length is None else max_length
        if self.max_length < 2:
            raise UserError(f"teacher.max_length must leave room for the tokenizer's special tokens, "
                            f"got {self.max_length}")
        # Padding is masked out everywhere, so a tokenizer without a pad token pads with id 0.
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0

    @property
    def vocab_size(self) -> int:
        return len(self.tokenizer)

    def fingerprint(self) -> str:
        """Identifies the vocabulary, normalisation and truncation: what shapes the logits."""
        # Truncation and padding are left out: encoding texts sets them on the backend tokenizer,
        # so they describe its last use, not the vocabulary; max_length stands for truncation.
        state = {key: value for key, value in json.loads(self.tokenizer.backend_tokenizer.to_str()).items()
                 if key not in ("truncation", "padding")}
        spec = json.dumps(state, sort_keys=True) + f"|max_length={self.max_length}"
        return hashlib.sha256(spec.encode()).hexdigest()

    def fit(self, texts: list[str]) -> None:
        """Nothing to learn: the vocabulary is the teacher's."""

    def encode(self, texts: list[str]) -> list[np.ndarray]:
        if not texts:  # the tokenizer fails on an empty batch
            return []
        encoded = self.tokenizer(
            texts, truncation=True, max_length=self.max_length, return_attention_mask=False,
            return_token_type_ids=False,
        )
        return [np.asarray(ids, dtype=np.int64) for ids in encoded["input_ids"]]

    def length(self, row: np.ndarray) -> int:
        return len(row)

    def collate(self, rows: list[np.ndarray]) -> dict[str, torch.Tensor]:
        width = max(len(row) for row in rows)
        input_ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            input_ids[i, : len(row)] = torch.from_numpy(row)
            attention_mask[i, : len(row)] = 1
        return {"input_ids": input_ids, "attention_mask": attention_mask}

    def save(self, directory: str | Path, label_names: list[str], cleaning: dict[str, list[str]]) -> None:
        """Write ``tokenizer.json`` (loads with ``tokenizers`` alone) and ``features.json``."""
        directory = Path(directory)
        write_text(directory / "tokenizer.json", self.tokenizer.backend_tokenizer.to_str())
        spec = {"kind": "wordpiece", "labels": list(label_names), "cleaning": cleaning,
                "max_length": self.max_length, "pad_id": self.pad_id}
        write_text(directory / "features.json", json.dumps(spec, indent=1, ensure_ascii=False))
