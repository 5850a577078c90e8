"""What makes two runs the same: their resolved settings and the bytes of the logits they read.

The pipeline skips a stage only when its earlier run has the same signature, so changing a
stage's settings, or re-fitting the teacher whose cache it distils from, re-runs it.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from distill.cache import file_sha256

# Where files go, how runs are logged, and the pipeline's plan: none changes what a run computes.
NOT_SETTINGS = ("paths", "logger", "pipeline")


def input_logits(cfg: DictConfig) -> list[str]:
    """The cached logits a run reads: ensemble members, or a distilling student's teacher.

    Normalised lexically: a member at ``<stage>/../sk_logreg/logits.npz`` must be found before
    the run has created ``<stage>``, or its bytes would go unhashed on the first run only.
    """
    if cfg.model.role == "ensemble":
        paths = list(cfg.model.members.values())
    elif cfg.model.role == "student" and cfg.get("distill") and cfg.distill.alpha > 0:
        paths = [cfg.teacher.logits]
    else:
        paths = []
    return [os.path.normpath(path) for path in paths]


def run_signature(cfg: DictConfig) -> str:
    """SHA-256 of the resolved settings (paths and loggers aside) and of every input cache's bytes.

    Settings resolve with each ``paths.*`` left as a placeholder, so a value derived from a
    path (the checkpoint folder, a cache under ``paths.cache_dir``) reads the same wherever
    the run folder is.
    """
    placeholders = OmegaConf.create(OmegaConf.to_container(cfg, resolve=False))
    for key in placeholders.get("paths", {}):
        placeholders.paths[key] = f"<paths.{key}>"
    settings = OmegaConf.to_container(placeholders, resolve=True)
    for key in NOT_SETTINGS:
        settings.pop(key, None)
    inputs = [file_sha256(path) if Path(path).is_file() else None for path in input_logits(cfg)]
    text = json.dumps({"settings": settings, "inputs": inputs}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()
