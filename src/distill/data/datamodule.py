"""Everything a text dataset shares after loading: splits, features, teacher logits, loaders."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, Protocol

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from distill.cache import CacheMismatchError, TeacherLogits, TeacherSpec
from distill.data.corpus import Corpus


class Features(Protocol):
    """Turns texts into model inputs (see ``distill.features``)."""

    vocab_size: int

    def fit(self, texts: list[str]) -> None: ...

    def encode(self, texts: list[str]) -> list[Any]: ...

    def length(self, row: Any) -> int: ...

    def collate(self, rows: list[Any]) -> dict[str, torch.Tensor]: ...


class EncodedSplit(Dataset):
    """One split's encoded examples; teacher logits, when present, were looked up by id."""

    def __init__(self, corpus: Corpus, rows: list[Any], teacher_logits: np.ndarray | None) -> None:
        self.corpus, self.rows, self.teacher_logits = corpus, rows, teacher_logits

    def __len__(self) -> int:
        return len(self.corpus)

    def __getitem__(self, index: int) -> dict[str, Any]:
        item = {"id": self.corpus.ids[index], "label": self.corpus.labels[index], "x": self.rows[index]}
        if self.teacher_logits is not None:
            item["teacher_logits"] = self.teacher_logits[index]
        return item


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


class TextDataModule(L.LightningDataModule, ABC):
    """Train/val/test splits of a labelled text corpus, encoded by the model's features.

    A dataset subclass only implements ``load_corpus``. Validation is a stratified
    ``val_fraction`` of train (fixed ``seed``); ``max_train_samples`` then caps what is left
    of train, so the validation split does not move when it changes. When ``teacher`` is
    given, its cached logits are verified against these splits and attached by example id.
    """

    def __init__(
        self,
        features: Features,
        batch_size: int = 32,
        eval_batch_size: int | None = None,
        val_fraction: float = 0.1,
        max_train_samples: int | None = None,
        seed: int = 42,
        num_workers: int = 0,
        teacher: TeacherSpec | None = None,
        require_teacher_logits: bool = False,
    ) -> None:
        super().__init__()
        self.features = features
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or batch_size
        self.val_fraction = val_fraction
        self.max_train_samples = max_train_samples
        self.seed = seed
        self.num_workers = num_workers
        self.teacher = teacher
        self.require_teacher_logits = require_teacher_logits
        self.splits: dict[str, Corpus] = {}
        self.datasets: dict[str, EncodedSplit] = {}
        self.teacher_logits: TeacherLogits | None = None

    @abstractmethod
    def load_corpus(self) -> tuple[Corpus, Corpus]:
        """The (train, test) corpora, before any validation split."""

    def load_splits(self) -> dict[str, Corpus]:
        """Train, val and test corpora, deterministic for a given seed."""
        train, test = self.load_corpus()
        train, val = train.split(self.val_fraction, self.seed)
        if self.max_train_samples is not None:
            train = train.sample(self.max_train_samples, self.seed)
        return {"train": train, "val": val, "test": test}

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        self.splits = self.load_splits()
        self.teacher_logits = self._load_teacher_logits()
        self.features.fit(self.splits["train"].texts)
        for name, corpus in self.splits.items():
            rows = self.features.encode(corpus.texts)
            if name != "train":  # evaluate in length order: batches pad to similar lengths
                order = np.argsort([self.features.length(row) for row in rows], kind="stable")
                corpus, rows = corpus.subset(order), [rows[i] for i in order]
            logits = None if self.teacher_logits is None else self.teacher_logits.lookup(corpus.ids)
            self.datasets[name] = EncodedSplit(corpus, rows, logits)

    def _load_teacher_logits(self) -> TeacherLogits | None:
        if self.teacher is None:
            return None
        if not Path(self.teacher.logits).is_file():
            if self.require_teacher_logits:
                raise CacheMismatchError(
                    f"no teacher logits at teacher.logits={self.teacher.logits}. Train the teacher "
                    "first with the same data settings (python train.py model=teacher_minilm ...) "
                    "or point teacher.logits at its cache."
                )
            return None
        cache = TeacherLogits.load(self.teacher.logits)
        cache.verify(self.splits, self.teacher)
        return cache

    @property
    def label_names(self) -> list[str]:
        return self.splits["train"].label_names

    @property
    def num_classes(self) -> int:
        return len(self.label_names)

    def dataloader(self, split: str, shuffle: bool = False) -> DataLoader:
        if not self.datasets:
            raise RuntimeError("call setup() before asking for a dataloader")
        return DataLoader(
            self.datasets[split],
            batch_size=self.batch_size if shuffle else self.eval_batch_size,
            shuffle=shuffle,
            num_workers=self.num_workers,
            collate_fn=Collate(self.features),
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self.dataloader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self.dataloader("val")

    def test_dataloader(self) -> DataLoader:
        return self.dataloader("test")
