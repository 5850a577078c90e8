"""What makes two runs the same: their resolved settings and the bytes of the logits they read.

The pipeline skips a stage only when its earlier run has the same signature, so changing a
stage's settings, or re-fitting the teacher whose cache it distils from, re-runs it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from distill.cache import file_sha256

# Where files go and how runs are logged: neither changes what a run computes.
NOT_SETTINGS = ("paths", "logger")


def input_logits(cfg: DictConfig) -> list[str]:
    """The cached logits a run reads: ensemble members, or a distilling student's teacher."""
    if cfg.model.role == "ensemble":
        return [str(path) for path in cfg.model.members.values()]
    if cfg.model.role == "student" and cfg.get("distill") and cfg.distill.alpha > 0:
        return [str(cfg.teacher.logits)]
    return []


def run_signature(cfg: DictConfig) -> str:
    """SHA-256 of the config as written (paths and loggers aside) and of every input cache's bytes.

    Interpolations stay unresolved, so moving a run folder keeps its signature; what they point
    to is hashed where it lives (a changed ``teacher.max_length`` changes the ``teacher`` node).
    """
    settings = OmegaConf.to_container(cfg, resolve=False)
    for key in NOT_SETTINGS:
        settings.pop(key, None)
    inputs = [file_sha256(path) if Path(path).is_file() else None for path in input_logits(cfg)]
    text = json.dumps({"settings": settings, "inputs": inputs}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()
