"""Config to objects: the data, the teacher spec and its verified store, callbacks and loggers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from distill.data.corpus import Corpus
from distill.data.transfer import TangTransfer
from distill.logit_store import LogitStore, LogitStoreError, TeacherSpec

# conf/ ships inside the package (distill/conf), so an installed wheel finds it as an editable install does
CONF_DIR = str(Path(__file__).resolve().parents[1] / "conf")


def data_module(cfg: DictConfig, **kwargs: Any) -> Any:
    """The configured TextDataModule; ``features`` default to None (texts only)."""
    return instantiate(cfg.data, _convert_="object", **{"features": None, **kwargs})


def load_splits(cfg: DictConfig) -> dict[str, Corpus]:
    """Train, val and test corpora of the configured data."""
    return data_module(cfg).load_splits()


def teacher_spec(cfg: DictConfig) -> TeacherSpec:
    return instantiate(cfg.teacher, _convert_="object")


def teacher_tokenizer_sha256(cfg: DictConfig) -> str:
    """The fingerprint of the tokenizer the configured teacher reads with (what its store records)."""
    from distill.features import WordPieceFeatures  # transformers: loaded when a teacher's store is read

    spec = teacher_spec(cfg)  # max_length resolved (null: the tokenizer's own limit)
    return WordPieceFeatures(spec.pretrained, spec.max_length).fingerprint()


def verified_teacher(cfg: DictConfig, splits: dict[str, Corpus]) -> LogitStore:
    """The store at ``teacher.logits``, checked against ``splits`` and the configured teacher."""
    rebuild = ("train the teacher first with the same data settings (python train.py model=teacher_minilm ...) "
               "or point teacher.logits at its store")
    spec = teacher_spec(cfg)
    if not Path(spec.logits).is_file():
        raise LogitStoreError(f"no teacher logits at teacher.logits={spec.logits}: {rebuild}")
    store = LogitStore.load(spec.logits, rebuild)
    store.verify(splits, spec, lambda: teacher_tokenizer_sha256(cfg))
    return store


UNLABELLED_FLAG = "unlabelled"  # transfer.unlabelled: students learn data.unlabelled_file too


def transfer_of(cfg: DictConfig) -> TangTransfer | None:
    """The configured transfer set's rules (``transfer=tang``), or None (no transfer group, the default,
    or ``transfer=unlabelled``, which generates no set)."""
    group = cfg.get("transfer") or {}
    if not group.get("_target_"):
        return None
    rules = OmegaConf.to_container(group, resolve=True)
    rules.pop(UNLABELLED_FLAG, None)
    return instantiate(rules)


def learns_unlabelled(cfg: DictConfig) -> bool:
    """``transfer.unlabelled``: a distilling student learns the teacher's store's unlabelled split
    (``transfer=unlabelled``, or ``transfer=tang_unlabelled`` on top of Tang's copies)."""
    return bool((cfg.get("transfer") or {}).get(UNLABELLED_FLAG, False))


def instantiate_all(group: DictConfig | None) -> list:
    """Every entry of a config group (callbacks, logger) that names a ``_target_``."""
    return [instantiate(entry) for entry in (group or {}).values() if entry and "_target_" in entry]
