"""The teacher's WordPiece tokenizer, shared by the teacher and the BiLSTM student."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import torch
from transformers import AutoTokenizer

from distill.atomic import write_text
from distill.pretrained import resolve_pretrained


class WordPieceFeatures:
    """Truncate to ``max_length`` tokens once, pad per batch (dynamic padding)."""

    def __init__(self, tokenizer: str, max_length: int = 256) -> None:
        if max_length < 2:
            raise ValueError(f"max_length must leave room for [CLS] and [SEP], got {max_length}")
        self.name = tokenizer
        self.max_length = max_length
        self.tokenizer = AutoTokenizer.from_pretrained(resolve_pretrained(tokenizer), use_fast=True)
        if not self.tokenizer.is_fast:
            raise ValueError(f"tokenizer {tokenizer} has no fast implementation")

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
        encoded = self.tokenizer(
            texts, truncation=True, max_length=self.max_length, return_attention_mask=False
        )
        return [np.asarray(ids, dtype=np.int64) for ids in encoded["input_ids"]]

    def length(self, row: np.ndarray) -> int:
        return len(row)

    def collate(self, rows: list[np.ndarray]) -> dict[str, torch.Tensor]:
        width = max(len(row) for row in rows)
        input_ids = torch.full((len(rows), width), self.tokenizer.pad_token_id, dtype=torch.long)
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
                "max_length": self.max_length, "pad_id": self.tokenizer.pad_token_id}
        write_text(directory / "features.json", json.dumps(spec, indent=1, ensure_ascii=False))
