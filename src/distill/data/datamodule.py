"""Everything a text dataset shares after loading: splits, features, teacher logits, loaders."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Protocol

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from distill.data.corpus import Corpus
from distill.data.transfer import TangTransfer
from distill.errors import UserError
from distill.logit_store import LogitStore, TeacherSpec, load_verified

VAL_SPLITS = ("random", "ordered")


class Features(Protocol):
    """Turns texts into model inputs (see ``distill.features``)."""

    vocab_size: int

    def fit(self, texts: list[str]) -> None: ...

    def encode(self, texts: list[str]) -> list[Any]: ...

    def length(self, row: Any) -> int: ...

    def collate(self, rows: list[Any]) -> dict[str, torch.Tensor]: ...


class EncodedSplit(Dataset):
    """One split's encoded examples; teacher logits, when present, were looked up by id in this split."""

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


class LengthOrderSampler(Sampler[int]):
    """Visits a split shortest-first, so evaluation batches pad to similar lengths."""

    def __init__(self, lengths: list[int]) -> None:
        self.order = np.argsort(lengths, kind="stable").tolist()

    def __iter__(self):
        return iter(self.order)

    def __len__(self) -> int:
        return len(self.order)


class LengthGroupedSampler(Sampler[int]):
    """Shuffles, then sorts each window of ``batch_size * window_batches`` examples by length.

    Batches stay random across windows but pad to similar lengths inside, which cuts a
    transformer epoch on long-tailed text by roughly the mean-to-max length ratio (the
    ``group_by_length`` of Hugging Face's Trainer). Lightning calls ``set_epoch`` each epoch,
    and wraps this sampler for DDP.
    """

    def __init__(self, lengths: list[int], batch_size: int, seed: int, window_batches: int = 50) -> None:
        self.lengths = np.asarray(lengths)
        self.window = batch_size * window_batches
        self.seed, self.epoch = seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        order = np.random.default_rng((self.seed, self.epoch)).permutation(len(self.lengths))
        windows = [order[start : start + self.window] for start in range(0, len(order), self.window)]
        return iter(np.concatenate([w[np.argsort(-self.lengths[w], kind="stable")] for w in windows]).tolist())

    def __len__(self) -> int:
        return len(self.lengths)


class TextDataModule(L.LightningDataModule, ABC):
    """Train/val/test splits of a labelled text corpus, encoded by the model's features.

    A dataset subclass only implements ``load_corpus``. Validation is ``val_fraction`` of
    train: with ``val_split="random"`` a stratified sample (fixed ``seed``); with "ordered" the
    last ``val_fraction`` of each class in the source's time order (``Corpus.order``), which
    mirrors a test set of later documents. ``max_train_samples`` then caps what is left
    of train, so the validation split does not move when it changes. When ``teacher`` is
    given (a student that distils), its logit store must exist; it is verified against these
    splits and its logits are attached by example id, split by split.
    ``group_by_length`` batches training examples of similar length (``LengthGroupedSampler``).
    ``labelled_fraction`` < 1 keeps the hard labels of that share of the training examples only
    (``Corpus.keep_labels``), after the teacher's logits were checked against the full split.
    ``transfer`` (a distilling student only) appends a transfer set to train: perturbed copies
    with label -1, learnt from the teacher's logits in the store at ``transfer.logits``, which
    must have been labelled by the same teacher store. Features are fitted on the training
    examples (train, and val under ``refit``), never on the copies. ``refit`` (the final fit,
    once val has chosen the settings and the epoch count) trains on train and val together, val
    with the teacher's val logits; copies still come from train alone.
    """

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
        teacher: TeacherSpec | None = None,
        group_by_length: bool = False,
        labelled_fraction: float = 1.0,
        transfer: TangTransfer | None = None,
        refit: bool = False,
    ) -> None:
        super().__init__()
        self.features = features
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or batch_size
        if val_split not in VAL_SPLITS:
            raise UserError(f"data.val_split must be one of {list(VAL_SPLITS)}, got {val_split!r}")
        self.val_fraction, self.val_split = val_fraction, val_split
        self.max_train_samples = max_train_samples
        self.seed = seed
        self.num_workers = num_workers
        self.teacher = teacher
        self.group_by_length = group_by_length
        self.labelled_fraction = labelled_fraction
        self.transfer = transfer
        self.refit = refit
        self.splits: dict[str, Corpus] = {}
        self.datasets: dict[str, EncodedSplit] = {}
        self.teacher_logits: LogitStore | None = None

    @abstractmethod
    def load_corpus(self) -> tuple[Corpus, Corpus]:
        """The (train, test) corpora, before any validation split."""

    def load_splits(self) -> dict[str, Corpus]:
        """Train, val and test corpora, deterministic for a given seed.

        An empty split is refused here, where its name is known: scikit-learn's split or the
        metrics would otherwise fail later without saying which split or setting it was.
        """
        train, test = self.load_corpus()
        for name, corpus in (("train", train), ("test", test)):
            if len(corpus) == 0:
                raise UserError(
                    f"the {name} split is empty: the data settings that choose its examples "
                    f"(data.{name}_file, data.categories, data.archive) select none"
                )
        train, val = train.split(self.val_fraction, self.seed, ordered=self.val_split == "ordered")
        if self.max_train_samples is not None:
            train = train.sample(self.max_train_samples, self.seed)
        return {"train": train, "val": val, "test": test}

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        self.splits = self.load_splits()
        store = None if self.teacher is None else load_verified(self.teacher, self.splits, required=True)
        self.teacher_logits = store
        logits = {name: None if store is None else store.aligned(name, corpus.ids)
                  for name, corpus in self.splits.items()}
        transfer = None if self.transfer is None else self._transfer_set(self.splits["train"])
        if self.refit:
            self.splits["train"] = self.splits["train"].concat(self.splits["val"])
            logits["train"] = None if store is None else np.concatenate([logits["train"], logits["val"]])
        self.splits["train"] = self.splits["train"].keep_labels(self.labelled_fraction, self.seed)
        self.features.fit(self.splits["train"].texts)
        if transfer is not None:
            self.splits["train"] = self.splits["train"].concat(transfer[0])
            logits["train"] = np.concatenate([logits["train"], transfer[1]])
        for name, corpus in self.splits.items():
            self.datasets[name] = EncodedSplit(corpus, self.features.encode(corpus.texts), logits[name])

    def _transfer_set(self, train: Corpus) -> tuple[Corpus, np.ndarray]:
        """The transfer set of ``train`` and its logits, from a store labelled by this run's teacher."""
        if self.teacher_logits is None:
            raise UserError("a transfer set is learnt from the teacher's soft labels only: use it with a "
                            "distilling student (distill=kl or mse, distill.alpha > 0), or set transfer=none")
        rebuild = "label it first: python train.py model=transfer_labels transfer=tang ..."
        store = LogitStore.load(self.transfer.logits, rebuild)
        transfer = self.transfer.generate(train, self.transfer.recorded_classes(store.source, self.transfer.logits))
        store.verify_splits({"transfer": transfer}, f"Re-label it ({rebuild}); a store without recorded word "
                            "classes regenerates only on a CPU like its labeller's.")
        labeller = store.source.get("labeller", {}).get("sha256")
        if labeller != self.teacher_logits.manifest["sha256"]:
            raise UserError(f"the transfer set at transfer.logits={self.transfer.logits} was labelled by another "
                            "teacher than this run's teacher.logits: distil from the store that labelled it, "
                            "or re-label the set with this teacher")
        return transfer, store.aligned("transfer", transfer.ids)

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
        if not self.datasets:
            raise RuntimeError("call setup() before asking for a dataloader")
        dataset = self.datasets[split]
        lengths = [self.features.length(row) for row in dataset.rows]
        if not shuffle:
            sampler: Sampler[int] | None = LengthOrderSampler(lengths)
        elif self.group_by_length:
            sampler = LengthGroupedSampler(lengths, self.batch_size, self.seed)
        else:
            sampler = None
        return DataLoader(
            dataset,
            batch_size=self.batch_size if shuffle else self.eval_batch_size,
            shuffle=shuffle and sampler is None,
            sampler=sampler,
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
