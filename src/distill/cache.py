"""Teacher logits cached on disk, keyed by example id and fingerprinted against the data.

A cache is one ``.npz`` file: per split, the example ids and the teacher's logits, plus a
JSON manifest that records what produced them (split fingerprints, label names, teacher
checkpoint, tokenizer, max_length). Students verify the manifest against their own data
and teacher settings before using a single logit, and look logits up by id.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import lightning as L
import numpy as np
import torch

from distill.atomic import atomic_path
from distill.data.corpus import Corpus

FORMAT_VERSION = 1


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


def _logits_sha256(ids: dict[str, np.ndarray], logits: dict[str, np.ndarray]) -> str:
    digest = hashlib.sha256()
    for split in sorted(ids):
        digest.update(split.encode())
        digest.update(np.ascontiguousarray(ids[split], dtype=np.int64).tobytes())
        digest.update(np.ascontiguousarray(logits[split], dtype=np.float32).tobytes())
    return digest.hexdigest()


class CacheMismatchError(ValueError):
    """The cached logits were made for other data or another teacher than this run's."""


class TeacherLogits:
    """Cached logits for every split, looked up by example id."""

    def __init__(self, ids: dict[str, np.ndarray], logits: dict[str, np.ndarray], manifest: dict):
        self.ids, self.logits, self.manifest = ids, logits, manifest
        all_ids = np.concatenate([ids[split] for split in sorted(ids)])
        self._table = np.concatenate([logits[split] for split in sorted(ids)]).astype(np.float32)
        self._row = {int(example_id): row for row, example_id in enumerate(all_ids)}

    def lookup(self, ids: np.ndarray) -> np.ndarray:
        """Logits for ``ids``, row for row; an unknown id is an error, never a wrong row."""
        try:
            rows = [self._row[int(example_id)] for example_id in ids]
        except KeyError as error:
            raise CacheMismatchError(f"teacher logits cache has no example with id {error}") from None
        return self._table[rows]

    def only(self, splits: list[str]) -> TeacherLogits:
        """These logits for ``splits`` only, with a manifest (and checksum) to match."""
        ids = {split: self.ids[split] for split in splits}
        logits = {split: self.logits[split] for split in splits}
        manifest = {**self.manifest, "splits": {split: self.manifest["splits"][split] for split in splits},
                    "logits_sha256": _logits_sha256(ids, logits)}
        return TeacherLogits(ids, logits, manifest)

    def save(self, path: str | Path) -> None:
        """Write atomically: a temporary file in the same folder, then a rename."""
        arrays = {f"ids_{split}": self.ids[split] for split in self.ids}
        arrays |= {f"logits_{split}": self.logits[split] for split in self.logits}
        arrays["manifest"] = np.array(json.dumps(self.manifest, indent=1, sort_keys=True))
        with atomic_path(path) as temporary, open(temporary, "wb") as handle:
            np.savez(handle, **arrays)
            handle.flush()
            os.fsync(handle.fileno())

    @classmethod
    def load(cls, path: str | Path) -> TeacherLogits:
        with np.load(Path(path), allow_pickle=False) as arrays:
            manifest = json.loads(str(arrays["manifest"]))
            splits = list(manifest["splits"])
            ids = {split: arrays[f"ids_{split}"] for split in splits}
            logits = {split: arrays[f"logits_{split}"] for split in splits}
        if _logits_sha256(ids, logits) != manifest["logits_sha256"]:
            raise CacheMismatchError(f"{path} is corrupt: its logits do not match its manifest checksum")
        return cls(ids, logits, manifest)

    @classmethod
    def from_predictions(
        cls,
        splits: dict[str, Corpus],
        logits: dict[str, np.ndarray],
        teacher: dict,
    ) -> TeacherLogits:
        """Package the teacher's predictions with the manifest that later runs verify."""
        ids = {name: corpus.ids for name, corpus in splits.items()}
        manifest = {
            "format": FORMAT_VERSION,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "label_names": next(iter(splits.values())).label_names,
            "splits": {
                name: {"examples": len(corpus), "fingerprint": corpus.fingerprint()}
                for name, corpus in splits.items()
            },
            "teacher": teacher,
            "logits_sha256": _logits_sha256(ids, logits),
        }
        return cls(ids, {name: np.asarray(array, np.float32) for name, array in logits.items()}, manifest)

    def verify_splits(self, splits: dict[str, Corpus], fix: str = "Re-run the model that wrote it.") -> None:
        """The labels and every split in ``splits`` are the ones these logits were made for."""
        labels = next(iter(splits.values())).label_names
        if self.manifest["label_names"] != labels:
            raise CacheMismatchError(
                f"teacher logits were made for labels {self.manifest['label_names']}, this run has "
                f"{labels} (data.categories or the dataset changed). {fix}"
            )
        for name, corpus in splits.items():
            cached = self.manifest["splits"].get(name)
            if cached is None or cached["fingerprint"] != corpus.fingerprint():
                have = "no" if cached is None else f"{cached['examples']} examples with another"
                raise CacheMismatchError(
                    f"teacher logits split '{name}' does not match the data: cache has {have} "
                    f"fingerprint, this run has {len(corpus)} examples (data.max_train_samples, "
                    f"data.val_fraction, data.remove, seed or the corpus changed). {fix}"
                )

    def verify(self, splits: dict[str, Corpus], spec: TeacherSpec) -> None:
        """Raise CacheMismatchError naming the first difference between cache and this run."""
        fix = (
            f"Re-create it with the same data settings (python train.py model=teacher_minilm ...) "
            f"or point teacher.logits at a matching cache (now {spec.logits})."
        )
        self.verify_splits(splits, fix)
        teacher = self.manifest["teacher"]
        if teacher["max_length"] != spec.max_length:
            raise CacheMismatchError(
                f"teacher logits were made with max_length={teacher['max_length']}, this run expects "
                f"teacher.max_length={spec.max_length}. {fix}"
            )
        if teacher["pretrained"] != spec.pretrained:
            raise CacheMismatchError(
                f"teacher logits come from teacher.pretrained={teacher['pretrained']}, this run "
                f"expects {spec.pretrained}. {fix}"
            )
        if spec.ckpt_path is not None and teacher["checkpoint_sha256"] != file_sha256(spec.ckpt_path):
            raise CacheMismatchError(
                f"teacher logits come from checkpoint {teacher['checkpoint']} "
                f"(sha256 {teacher['checkpoint_sha256'][:12]}), not from teacher.ckpt_path="
                f"{spec.ckpt_path}. {fix}"
            )


def load_verified(spec: TeacherSpec, splits: dict[str, Corpus], required: bool = False) -> TeacherLogits | None:
    """The cache at ``spec.logits`` checked against ``splits``; None if absent and not ``required``."""
    if not Path(spec.logits).is_file():
        if required:
            raise CacheMismatchError(
                f"no teacher logits at teacher.logits={spec.logits}. Train the teacher first with "
                "the same data settings (python train.py model=teacher_minilm ...) or point "
                "teacher.logits at its cache."
            )
        return None
    cache = TeacherLogits.load(spec.logits)
    cache.verify(splits, spec)
    return cache


def predict_logits(
    trainer: L.Trainer,
    module: L.LightningModule,
    datamodule: L.LightningDataModule,
    splits: tuple[str, ...] | None = None,
) -> dict[str, np.ndarray]:
    """The module's logits for ``splits`` (default all), aligned to each split's ids.

    A collective under DDP: every rank predicts its shard and all ranks get every row.
    """
    logits = {}
    for split in splits or tuple(datamodule.splits):
        corpus = datamodule.splits[split]
        batches = trainer.predict(module, dataloaders=datamodule.dataloader(split))
        ids = torch.cat([batch["ids"] for batch in batches]).cpu().numpy()
        values = torch.cat([batch["logits"] for batch in batches]).cpu().numpy()
        if trainer.world_size > 1:  # distributed samplers shard (and pad) the split
            shards: list = [None] * trainer.world_size
            torch.distributed.all_gather_object(shards, (ids, values))
            ids = np.concatenate([shard[0] for shard in shards])
            values = np.concatenate([shard[1] for shard in shards])
        row_of = {int(example_id): row for row, example_id in enumerate(ids)}
        missing = [int(i) for i in corpus.ids if int(i) not in row_of]
        if missing:
            raise RuntimeError(f"teacher predictions for '{split}' lack ids {missing[:5]}...")
        logits[split] = values[[row_of[int(i)] for i in corpus.ids]]
    return logits
