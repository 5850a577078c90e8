"""Config to objects: the data, the teacher spec, callbacks and loggers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig

from distill.data.corpus import Corpus
from distill.data.transfer import TangTransfer
from distill.logit_store import TeacherSpec

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


def transfer_of(cfg: DictConfig) -> TangTransfer | None:
    """The configured transfer set's rules (``transfer=tang``), or None (``transfer=none``)."""
    return instantiate(cfg.transfer) if (cfg.get("transfer") or {}).get("_target_") else None


def instantiate_all(group: DictConfig | None) -> list:
    """Every entry of a config group (callbacks, logger) that names a ``_target_``."""
    return [instantiate(entry) for entry in (group or {}).values() if entry and "_target_" in entry]
