"""What a role's fit hands back, and the two settings every fit asks about."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from omegaconf import DictConfig

from distill.logit_store import LogitStore


@dataclass
class Fitted:
    """What a runner hands back: metrics, logits, and where its model and preprocessing are."""

    metrics: dict[str, Any]
    logits: LogitStore | None  # None after fast_dev_run
    checkpoint: dict | None = None  # {"format", "path" (relative to the run folder), "sha256"}
    features: str | None = None  # folder of the saved preprocessing, relative to the run folder
    labels: list[str] = field(default_factory=list)
    cleaning: dict = field(default_factory=dict)


def distils(cfg: DictConfig) -> bool:
    return cfg.get("distill") is not None and cfg.distill.alpha > 0


def refits(cfg: DictConfig) -> bool:
    """A final fit on train and val (refit=train_val): val is learnt, so nothing may be chosen on it."""
    return bool(cfg.data.get("refit", False))
