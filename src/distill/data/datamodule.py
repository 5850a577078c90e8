"""Everything a text dataset shares after loading: splits, features, soft targets, loaders.

Plain Python: reading a run's splits (serving, reports, benchmarks) imports neither torch nor
Lightning. Batches are made by ``distill.data.loaders`` (torch); Lightning's Trainer drives a
data module through ``distill.data.lightning_data.LightningData``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from distill.data.corpus import Corpus
from distill.data.unlabelled import UnlabelledFile
from distill.errors import UserError
from distill.logit_store import rows_of

if TYPE_CHECKING:
    import torch
    from torch.utils.data import DataLoader

VAL_SPLITS = ("random", "ordered")


class Features(Protocol):
    """Turns texts into model inputs (see ``distill.features``): every method a caller uses."""

    vocab_size: int

    def fit(self, texts: list[str]) -> None: ...

    def encode(self, texts: list[str]) -> list[Any]: ...

    def length(self, row: Any) -> int: ...

    def collate(self, rows: list[Any]) -> dict[str, torch.Tensor]: ...

    def fingerprint(self) -> str:
        """Identifies the transform (a teacher's store records it; students check theirs against it)."""

    def save(self, directory: str | Path, label_names: list[str], cleaning: dict[str, list[str]]) -> None:
        """Write what ``distill.serving`` needs to redo the transform without this class."""


@dataclass(frozen=True)
class SoftTargets:
    """What a student learns besides labels: a teacher's logits keyed by example id.

    ``by_split[name] = (ids, logits)`` for train, val and test. ``extra`` (a transfer set) and
    ``unlabelled`` (``data.unlabelled_file``) are examples learnt from soft labels alone (label -1),
    with logits in ``by_split`` under those names. Both join train; the features are fitted on the
    unlabelled texts, in-domain text as the training texts ``labelled_fraction`` unlabels are, but
    never on a transfer set's copies, which hold [MASK] and n-gram fragments.
    """

    by_split: dict[str, tuple[np.ndarray, np.ndarray]]
    extra: Corpus | None = None
    unlabelled: Corpus | None = None


class EncodedSplit:
    """One split's encoded examples (a map-style dataset); teacher logits, when present, were looked up by
    id in this split."""

    def __init__(self, corpus: Corpus, rows: list[Any], teacher_logits: np.ndarray | None) -> None:
        self.corpus, self.rows, self.teacher_logits = corpus, rows, teacher_logits

    def __len__(self) -> int:
        return len(self.corpus)

    def __getitem__(self, index: int) -> dict[str, Any]:
        item = {"id": self.corpus.ids[index], "label": self.corpus.labels[index], "x": self.rows[index]}
        if self.teacher_logits is not None:
            item["teacher_logits"] = self.teacher_logits[index]
        return item


class TextDataModule(ABC):
    """Train/val/test splits of a labelled text corpus, encoded by the model's features.

    A dataset subclass only implements ``load_corpus``. Validation is ``val_fraction`` of
    train: with ``val_split="random"`` a stratified sample (fixed ``seed``); with "ordered" the
    last ``val_fraction`` of each class in the source's time order (``Corpus.order``), which
    mirrors a test set of later documents. ``max_train_samples`` then caps what is left
    of train, so the validation split does not move when it changes.
    ``group_by_length`` batches training examples of similar length (``LengthGroupedSampler``).
    ``labelled_fraction`` < 1 keeps the hard labels of that share of the training examples only
    (``Corpus.keep_labels``). ``refit`` (the final fit, once val has chosen the settings and the
    epoch count) trains on train and val together. ``unlabelled_file`` is in-domain text without
    labels, which the teacher labels into its store's ``unlabelled`` split (``unlabelled``).
    ``setup`` encodes the splits with hard labels only; a run that distils loads the splits, checks
    its teacher's store against them, and hands both to ``encode`` (``distill.cli.soft_targets``).
    """

    text_column: str = "text"  # where an unlabelled file holds its texts; a dataset of files may name others
    id_column: str | None = None

    def __init__(
        self,
        features: Features,
        batch_size: int = 32,
        eval_batch_size: int | None = None,
        val_fraction: float = 0.1,
        val_split: str = "random",
        max_train_samples: int | None = None,
        seed: int = 42,
        num_workers: int = 0,
        group_by_length: bool = False,
        labelled_fraction: float = 1.0,
        refit: bool = False,
        unlabelled_file: str | None = None,
    ) -> None:
        self.features = features
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or batch_size
        if val_split not in VAL_SPLITS:
            raise UserError(f"data.val_split must be one of {list(VAL_SPLITS)}, got {val_split!r}")
        self.val_fraction, self.val_split = val_fraction, val_split
        self.max_train_samples = max_train_samples
        self.seed = seed
        self.num_workers = num_workers
        self.group_by_length = group_by_length
        self.labelled_fraction = labelled_fraction
        self.refit = refit
        self.unlabelled_file = unlabelled_file
        self.splits: dict[str, Corpus] = {}
        self.datasets: dict[str, EncodedSplit] = {}

    @abstractmethod
    def load_corpus(self) -> tuple[Corpus, ...]:
        """The (train, test) corpora, before any validation split; or (train, test, val) when
        the source gives its validation split itself (``val_fraction`` and ``val_split`` then unused)."""

    def load_splits(self) -> dict[str, Corpus]:
        """Train, val and test corpora, deterministic for a given seed.

        An empty split is refused here, where its name is known: scikit-learn's split or the
        metrics would otherwise fail later without saying which split or setting it was.
        """
        train, test, *given = self.load_corpus()
        for name, corpus in (("train", train), ("test", test)):
            if len(corpus) == 0:
                raise UserError(
                    f"the {name} split is empty: the data settings that choose its examples "
                    f"(data.{name}_file, data.categories, data.archive) select none"
                )
        ordered = self.val_split == "ordered"
        train, val = (train, *given) if given else train.split(self.val_fraction, self.seed, ordered)
        if self.max_train_samples is not None:
            train = train.sample(self.max_train_samples, self.seed)
        return {"train": train, "val": val, "test": test}

    def setup(self, stage: str | None = None) -> None:
        if not self.datasets:
            self.encode(self.load_splits())

    def encode(self, splits: dict[str, Corpus], soft: SoftTargets | None = None) -> None:
        """Fit the features on the training examples (train, and val under ``refit``) and encode
        every split, with ``soft``'s logits looked up by example id when given."""
        splits, targets = dict(splits), {} if soft is None else dict(soft.by_split)
        if self.refit:
            splits["train"] = splits["train"].concat(splits["val"])
            targets["train"] = _joined(targets, "train", "val")
        splits["train"] = splits["train"].keep_labels(self.labelled_fraction, self.seed)
        added = {name: corpus for name in ("unlabelled", "extra") if (corpus := getattr(soft, name, None)) is not None}
        self.features.fit(splits["train"].texts + (added["unlabelled"].texts if "unlabelled" in added else []))
        for name, corpus in added.items():
            if (corpus.labels >= 0).any():
                raise ValueError(f"{name} examples are learnt from soft labels alone: their labels must be -1")
            splits["train"] = splits["train"].concat(corpus)
            targets["train"] = _joined(targets, "train", name)
        self.splits = splits
        for name, corpus in splits.items():
            logits = None
            if soft is not None:
                ids, values = targets[name]
                logits = values[rows_of(ids, corpus.ids, f"the soft targets of '{name}'")].astype(np.float32)
            self.datasets[name] = EncodedSplit(corpus, self.features.encode(corpus.texts), logits)

    def unlabelled(self) -> UnlabelledFile | None:
        """``unlabelled_file`` read with this data's text and id columns; None when there is none."""
        return UnlabelledFile(self.unlabelled_file, self.text_column, self.id_column) if self.unlabelled_file else None

    @property
    def cleaning(self) -> dict[str, list[str]]:
        """How raw text is cleaned before the features see it; predictors redo it (``distill.serving``)."""
        return {}

    @property
    def label_names(self) -> list[str]:
        return self.splits["train"].label_names

    @property
    def num_classes(self) -> int:
        return len(self.label_names)

    def dataloader(self, split: str, shuffle: bool = False) -> DataLoader:
        """Shuffled for training; in length order otherwise (evaluation, teacher predictions)."""
        from distill.data.loaders import loader  # torch: only a run that makes batches pays for it

        if not self.datasets:
            raise RuntimeError("call setup() before asking for a dataloader")
        return loader(self.datasets[split], self.features, self.batch_size if shuffle else self.eval_batch_size,
                      shuffle=shuffle, group_by_length=self.group_by_length, seed=self.seed,
                      num_workers=self.num_workers)

    def train_dataloader(self) -> DataLoader:
        return self.dataloader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self.dataloader("val")

    def test_dataloader(self) -> DataLoader:
        return self.dataloader("test")


def _joined(targets: dict[str, tuple[np.ndarray, np.ndarray]], *names: str) -> tuple[np.ndarray, np.ndarray] | None:
    """The (ids, logits) of ``names`` as one lookup table (None without soft targets)."""
    if not targets:
        return None
    return (np.concatenate([targets[name][0] for name in names]), np.concatenate([targets[name][1] for name in names]))
