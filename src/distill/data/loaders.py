"""Batches of an encoded split: the torch half of a data module (``TextDataModule.dataloader``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Sampler

from distill.data.samplers import LengthGroupedSampler, LengthOrderSampler

if TYPE_CHECKING:
    from distill.data.datamodule import EncodedSplit, Features


class Collate:
    """Batch of examples -> {"ids", "labels", "inputs", optional "teacher_logits"}."""

    def __init__(self, features: Features) -> None:
        self.features = features

    def __call__(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        batch = {
            "ids": torch.tensor(np.array([item["id"] for item in items]), dtype=torch.long),
            "labels": torch.tensor(np.array([item["label"] for item in items]), dtype=torch.long),
            "inputs": self.features.collate([item["x"] for item in items]),
        }
        if "teacher_logits" in items[0]:
            batch["teacher_logits"] = torch.from_numpy(np.stack([item["teacher_logits"] for item in items]))
        return batch


def loader(dataset: EncodedSplit, features: Features, batch_size: int, shuffle: bool, group_by_length: bool,
           seed: int, num_workers: int) -> DataLoader:
    """Shuffled (in batches of similar length under ``group_by_length``) for training; shortest-first otherwise."""
    lengths = [features.length(row) for row in dataset.rows]
    if not shuffle:
        sampler: Sampler[int] | None = LengthOrderSampler(lengths)
    elif group_by_length:
        sampler = LengthGroupedSampler(lengths, batch_size, seed)
    else:
        sampler = None
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle and sampler is None,
        sampler=sampler,
        num_workers=num_workers,
        collate_fn=Collate(features),
        persistent_workers=num_workers > 0,
    )
