"""Logits of one model for every split, keyed by example id and fingerprinted against the data.

Every run writes one: the teacher (which students distil from), a student, a classic
baseline, an ensemble. A store is one ``.npz`` file: per split, the example ids and the
logits, plus a JSON manifest saying what made them (``source``: kind, model, tokenizer,
max_length, precision, checkpoint hash, settings signature) and what they were made on
(label names, split fingerprints). A SHA-256 covers ids, logits and the manifest, so an
edited manifest is caught. Readers verify the manifest against their own data before using a
single logit, and look logits up by id within one split, never by position.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from distill.atomic import atomic_path
from distill.errors import UserError

if TYPE_CHECKING:
    from distill.data.corpus import Corpus

FORMAT_VERSION = 2


class LogitStoreError(UserError):
    """A logit store that cannot be used: unreadable, corrupt, or made for other data."""


@dataclass(frozen=True)
class TeacherSpec:
    """The teacher a student expects its logits from; ``ckpt_path=None`` accepts any fine-tune."""

    pretrained: str
    max_length: int
    logits: str
    ckpt_path: str | None = None


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# What a corrupt or foreign file raises, whichever layer (zip, zlib, numpy, json) reads it first.
UNREADABLE = (OSError, ValueError, KeyError, zipfile.BadZipFile, zlib.error, EOFError, TypeError, NotImplementedError)


def recorded_source(path: str | Path) -> dict[str, Any]:
    """What made the store at ``path``, read from its manifest alone (no checksum: {} when the file
    is not a readable store, which its reader then reports)."""
    try:
        with np.load(path, allow_pickle=False) as arrays:
            manifest = json.loads(str(arrays["manifest"]))
        return manifest.get("source", {}) if isinstance(manifest, dict) else {}
    except UNREADABLE:
        return {}


def _checksum(ids: dict[str, np.ndarray], logits: dict[str, np.ndarray], manifest: dict) -> str:
    """SHA-256 of ids and logits per split and of the manifest itself (but its own checksum)."""
    digest = hashlib.sha256()
    for split in sorted(ids):
        digest.update(split.encode())
        digest.update(np.ascontiguousarray(ids[split], dtype=np.int64).tobytes())
        digest.update(np.ascontiguousarray(logits[split], dtype=np.float32).tobytes())
    signed = {key: value for key, value in manifest.items() if key != "sha256"}
    digest.update(json.dumps(signed, sort_keys=True).encode())
    return digest.hexdigest()


def rows_of(known: np.ndarray, ids: np.ndarray, where: str, order: np.ndarray | None = None) -> np.ndarray:
    """The row of each of ``ids`` in ``known`` (unique ids; ``order`` sorts them, if already known).
    An id that ``known`` lacks is a LogitStoreError naming ``where``, never a wrong row."""
    ids = np.asarray(ids, dtype=np.int64)
    order = np.argsort(known, kind="stable") if order is None else order
    position = np.minimum(np.searchsorted(known, ids, sorter=order), len(known) - 1) if len(known) else None
    rows = order[position] if position is not None else np.zeros(0, dtype=np.int64)
    missing = ids if position is None else ids[known[rows] != ids]
    if missing.size:
        raise LogitStoreError(f"{where} has no example with id {int(missing[0])} ({missing.size} missing): "
                              "it was made on other data")
    return rows


def to_float16(logits: np.ndarray) -> np.ndarray:
    """Logits rounded to float16 values (kept as float32): a store of them is written in half the bytes."""
    return np.asarray(logits, np.float32).astype(np.float16).astype(np.float32)


def _compact(logits: np.ndarray) -> np.ndarray:
    """float16 when that loses nothing, else the logits as they are."""
    half = logits.astype(np.float16)
    return half if np.array_equal(half.astype(logits.dtype), logits) else logits


class LogitStore:
    """Logits for every split, looked up by example id within a split."""

    def __init__(self, ids: dict[str, np.ndarray], logits: dict[str, np.ndarray], manifest: dict) -> None:
        self.ids, self.logits, self.manifest = ids, logits, manifest
        self._order: dict[str, np.ndarray] = {}
        for split, split_ids in ids.items():
            order = np.argsort(split_ids, kind="stable")
            repeated = split_ids[order][1:][np.diff(split_ids[order]) == 0]
            if repeated.size:
                raise LogitStoreError(f"logit store split '{split}' repeats example ids "
                                      f"{sorted(set(repeated.tolist()))[:5]}: rebuild it from data with unique ids")
            self._order[split] = order

    @property
    def source(self) -> dict[str, Any]:
        """What made these logits: ``kind`` (the role of the run that made them), ``model`` and its details."""
        return self.manifest["source"]

    def aligned(self, split: str, ids: np.ndarray) -> np.ndarray:
        """``split``'s logits for ``ids``, row for row; an unknown id is an error, never a wrong row."""
        if split not in self.ids:
            raise LogitStoreError(f"logit store has no '{split}' split (it has {sorted(self.ids)})")
        rows = rows_of(self.ids[split], ids, f"logit store split '{split}'", self._order[split])
        return self.logits[split][rows].astype(np.float32)

    def only(self, splits: list[str]) -> LogitStore:
        """These logits for ``splits`` only, with a manifest (and checksum) to match."""
        ids = {split: self.ids[split] for split in splits}
        logits = {split: self.logits[split] for split in splits}
        manifest = {**self.manifest, "splits": {split: self.manifest["splits"][split] for split in splits}}
        return LogitStore(ids, logits, {**manifest, "sha256": _checksum(ids, logits, manifest)})

    def with_source(self, **fields: Any) -> LogitStore:
        """These logits with ``fields`` added to their source (a run's signature, its settings), checksummed anew."""
        manifest = {**self.manifest, "source": json.loads(json.dumps({**self.source, **fields}))}
        return LogitStore(self.ids, self.logits, {**manifest, "sha256": _checksum(self.ids, self.logits, manifest)})

    def save(self, path: str | Path) -> None:
        """Write atomically: a temporary file in the same folder, then a rename. A split whose
        logits are all float16 values (``to_float16``) is written in float16, half the bytes;
        the file is zip-compressed, for the manifest (a transfer store's word classes)."""
        arrays = {f"ids_{split}": self.ids[split] for split in self.ids}
        arrays |= {f"logits_{split}": _compact(self.logits[split]) for split in self.logits}
        arrays["manifest"] = np.array(json.dumps(self.manifest, indent=1, sort_keys=True))
        with atomic_path(path) as temporary, open(temporary, "wb") as handle:
            np.savez_compressed(handle, **arrays)
            handle.flush()
            os.fsync(handle.fileno())

    @classmethod
    def load(cls, path: str | Path, rebuild: str = "re-run the model that wrote it") -> LogitStore:
        """The store at ``path``; a missing, truncated, foreign or corrupt file is a LogitStoreError
        naming the file and ``rebuild`` (the command that writes it again)."""
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as arrays:
                manifest = json.loads(str(arrays["manifest"]))
                splits = list(manifest["splits"])
                ids = {split: arrays[f"ids_{split}"].astype(np.int64) for split in splits}
                logits = {split: arrays[f"logits_{split}"] for split in splits}
        except FileNotFoundError:
            raise LogitStoreError(f"no logit store at {path}: {rebuild}") from None
        except UNREADABLE as error:  # a corrupt byte, whichever layer reads it first
            raise LogitStoreError(f"{path} is not a logit store (truncated, or another kind of file: "
                                  f"{type(error).__name__}): {rebuild}") from None
        if manifest.get("format", 1) != FORMAT_VERSION:
            raise LogitStoreError(f"{path} is a format-{manifest.get('format', 1)} logit store, this version reads "
                                  f"format {FORMAT_VERSION}: {rebuild}")
        if _checksum(ids, logits, manifest) != manifest.get("sha256"):
            raise LogitStoreError(f"{path} is corrupt: its logits or manifest do not match its checksum: {rebuild}")
        return cls(ids, logits, manifest)

    @classmethod
    def from_predictions(cls, splits: dict[str, Corpus], logits: dict[str, np.ndarray], source: dict) -> LogitStore:
        """Package a model's predictions with the manifest that later runs verify.

        ``source["kind"]`` names the role of the run that made them (``distill.cli.roles.ROLES``);
        its other keys describe the model.
        """
        if not isinstance(source.get("kind"), str) or not source["kind"]:
            raise ValueError(f"a logit store's source names its kind (the role that made it): {source.get('kind')!r}")
        ids = {name: corpus.ids for name, corpus in splits.items()}
        logits = {name: np.asarray(array, np.float32) for name, array in logits.items()}
        manifest = {
            "format": FORMAT_VERSION,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "label_names": next(iter(splits.values())).label_names,
            "splits": {name: {"examples": len(corpus), "fingerprint": corpus.fingerprint()}
                       for name, corpus in splits.items()},
            "source": json.loads(json.dumps(source)),  # a copy, as it will read back: the checksum covers it
        }
        return cls(ids, logits, {**manifest, "sha256": _checksum(ids, logits, manifest)})

    def verify_splits(self, splits: dict[str, Corpus], fix: str = "Re-run the model that wrote it.") -> None:
        """The labels, and the ids and fingerprint of every split in ``splits``, are the ones these
        logits were made for."""
        labels = next(iter(splits.values())).label_names
        if self.manifest["label_names"] != labels:
            raise LogitStoreError(f"logits were made for labels {self.manifest['label_names']}, this run has "
                                  f"{labels} (data.categories or the dataset changed). {fix}")
        for name, corpus in splits.items():
            cached = self.manifest["splits"].get(name)
            same_ids = name in self.ids and np.array_equal(np.sort(self.ids[name]), np.sort(corpus.ids))
            if cached is None or cached["fingerprint"] != corpus.fingerprint() or not same_ids:
                have = "no" if cached is None else f"{cached['examples']} examples with another"
                raise LogitStoreError(f"logits split '{name}' does not match the data: the store has {have} "
                                      f"fingerprint, this run has {len(corpus)} examples (data.max_train_samples, "
                                      f"data.val_fraction, data.remove, seed or the corpus changed). {fix}")

    def verify(self, splits: dict[str, Corpus], spec: TeacherSpec,
               tokenizer_sha256: Callable[[], str] | None = None) -> None:
        """Raise LogitStoreError naming the first difference between this store and the teacher
        a run expects. A store that records no transformer (a classic model's) is checked
        against the data only. ``tokenizer_sha256`` gives the fingerprint of the tokenizer the run
        expects (the features' ``fingerprint``), asked for only when the store records one: the
        caller, which builds features, computes it, so storage never reaches up into them."""
        fix = (f"Re-create it with the same data settings (python train.py model=teacher_minilm ...) "
               f"or point teacher.logits at a matching store (now {spec.logits}).")
        self.verify_splits(splits, fix)
        source = self.source
        if source.get("max_length") is None:
            return
        if source["max_length"] != spec.max_length:
            raise LogitStoreError(f"teacher logits were made with max_length={source['max_length']}, this run expects "
                                  f"teacher.max_length={spec.max_length}. {fix}")
        if source["pretrained"] != spec.pretrained:
            raise LogitStoreError(f"teacher logits come from teacher.pretrained={source['pretrained']}, this run "
                                  f"expects {spec.pretrained}. {fix}")
        if source.get("tokenizer_sha256") and tokenizer_sha256 and source["tokenizer_sha256"] != tokenizer_sha256():
            raise LogitStoreError(f"teacher logits were made with another tokenizer than {spec.pretrained}'s at "
                                  f"max_length={spec.max_length} (its vocabulary or normalisation changed). {fix}")
        if spec.ckpt_path is not None and source.get("checkpoint_sha256") != file_sha256(spec.ckpt_path):
            raise LogitStoreError(f"teacher logits come from a checkpoint with sha256 "
                                  f"{str(source.get('checkpoint_sha256'))[:12]}, not from "
                                  f"teacher.ckpt_path={spec.ckpt_path}. {fix}")
