"""A split of labelled texts with stable ids, and the operations every data source shares."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import train_test_split

from distill.errors import UserError


@dataclass(frozen=True)
class Corpus:
    """Texts with integer labels and stable integer ids, all in one order.

    ``ids`` identify an example across runs (teacher logits are keyed by them);
    ``labels`` index ``label_names``, with -1 meaning "no hard label". ``order`` is the
    source's sort key in time (20 Newsgroups' article number, a CSV's ``order_column``);
    ``None`` means the examples are already in that order.
    """

    ids: np.ndarray
    texts: list[str]
    labels: np.ndarray
    label_names: list[str]
    order: np.ndarray | None = None

    def __post_init__(self) -> None:
        if not (len(self.ids) == len(self.texts) == len(self.labels)):
            raise ValueError(
                f"Corpus columns differ in length: {len(self.ids)} ids, "
                f"{len(self.texts)} texts, {len(self.labels)} labels"
            )
        if len(np.unique(self.ids)) != len(self.ids):
            raise ValueError("Corpus ids must be unique: teacher logits are looked up by id")
        if self.order is not None and len(self.order) != len(self.ids):
            raise ValueError(f"Corpus order has {len(self.order)} keys for {len(self.ids)} examples")

    def __len__(self) -> int:
        return len(self.ids)

    def subset(self, indices: np.ndarray) -> Corpus:
        indices = np.asarray(indices, dtype=np.int64)
        return Corpus(
            ids=self.ids[indices],
            texts=[self.texts[i] for i in indices],
            labels=self.labels[indices],
            label_names=self.label_names,
            order=None if self.order is None else self.order[indices],
        )

    def concat(self, other: Corpus) -> Corpus:
        """This corpus followed by ``other`` (same label names); ids must stay unique."""
        order = None if self.order is None or other.order is None else np.concatenate([self.order, other.order])
        return Corpus(np.concatenate([self.ids, other.ids]), [*self.texts, *other.texts],
                      np.concatenate([self.labels, other.labels]), self.label_names, order)

    def split(self, fraction: float, seed: int, ordered: bool = False) -> tuple[Corpus, Corpus]:
        """(rest, held-out) split with ``fraction`` of the examples held out.

        Random: a stratified sample. Ordered: the last ``fraction`` of each class in ``order``,
        so that validation, like a test set of later postings, lies after what trains.
        """
        n_held_out = self._check_fraction(fraction)
        if ordered:
            return self._split_last(fraction)
        rest, held_out = train_test_split(
            np.arange(len(self)), test_size=n_held_out, random_state=seed, stratify=self._strata(n_held_out)
        )
        return self.subset(np.sort(rest)), self.subset(np.sort(held_out))

    def _split_last(self, fraction: float) -> tuple[Corpus, Corpus]:
        """Each class's last ``round(fraction * n)`` examples in ``order`` (at least one of two or more)."""
        keys = np.arange(len(self)) if self.order is None else self.order
        held_out = []
        for label in np.unique(self.labels):
            members = np.flatnonzero(self.labels == label)
            members = members[np.argsort(keys[members], kind="stable")]
            n_last = max(round(fraction * len(members)), 1) if len(members) >= 2 else 0
            held_out.extend(members[len(members) - n_last :])
        held_out = np.sort(np.asarray(held_out, dtype=np.int64))
        return self.subset(np.setdiff1d(np.arange(len(self)), held_out)), self.subset(held_out)

    def _check_fraction(self, fraction: float) -> int:
        """The number of examples ``fraction`` holds out, refused when it is none or all of them."""
        if not 0.0 < fraction < 1.0:
            raise UserError(f"data.val_fraction must be in (0, 1), got {fraction}")
        n_held_out = math.ceil(fraction * len(self))
        if n_held_out >= len(self):
            raise UserError(
                f"data.val_fraction={fraction} holds out every training example (there are {len(self)}); "
                "lower data.val_fraction or add training examples"
            )
        return n_held_out

    def sample(self, n: int, seed: int) -> Corpus:
        """A stratified sample of ``n`` examples (the whole corpus when ``n >= len``)."""
        if n >= len(self):
            return self
        if n <= 0:
            raise ValueError(f"data.max_train_samples must be positive, got {n}")
        keep, _ = train_test_split(
            np.arange(len(self)), train_size=n, random_state=seed, stratify=self._strata(n)
        )
        return self.subset(np.sort(keep))

    def keep_labels(self, fraction: float, seed: int) -> Corpus:
        """The same examples with the hard labels of a stratified ``fraction`` kept, the rest -1.

        Labels are scarce, a teacher is not: a student then learns the unlabelled examples
        from the teacher's soft labels alone (the loss skips label -1 in its hard term).
        """
        if not 0.0 < fraction <= 1.0:
            raise UserError(f"data.labelled_fraction must be in (0, 1], got {fraction}")
        if fraction == 1.0:
            return self
        n_kept = max(math.ceil(fraction * len(self)), 1)
        kept, _ = train_test_split(np.arange(len(self)), train_size=n_kept, random_state=seed,
                                   stratify=self._strata(n_kept))
        labels = np.full(len(self), -1, dtype=self.labels.dtype)
        labels[kept] = self.labels[kept]
        return Corpus(self.ids, self.texts, labels, self.label_names, self.order)

    def _strata(self, n_drawn: int) -> np.ndarray | None:
        """Stratify on labels when every class can appear on both sides, else split at random."""
        _, counts = np.unique(self.labels, return_counts=True)
        sides = min(n_drawn, len(self) - n_drawn)
        return self.labels if counts.min() >= 2 and sides >= len(counts) else None

    def fingerprint(self) -> str:
        """SHA-256 over ids, labels, label names and texts, in order."""
        digest = hashlib.sha256()
        digest.update(np.ascontiguousarray(self.ids, dtype=np.int64).tobytes())
        digest.update(np.ascontiguousarray(self.labels, dtype=np.int64).tobytes())
        digest.update("\x1f".join(self.label_names).encode())
        for text in self.texts:
            digest.update(text.encode("utf-8", "surrogatepass"))
            digest.update(b"\x00")
        return digest.hexdigest()
