"""What makes two runs the same: their resolved settings and the logits they read (each store by
its identity: its bytes, or the signature it records where its role says so).

The pipeline skips a stage only when its earlier run has the same signature, so changing a
stage's settings, or re-fitting the teacher whose logits it distils from, re-runs it.
"""

from __future__ import annotations

import hashlib
import json

from omegaconf import DictConfig, OmegaConf

# Where files go, how runs are logged and shown, the pipeline's plan and what a stage is to its
# readers: none changes what a run computes. The data's location is not a setting either (the
# corpus's, an unlabelled file's): stores fingerprint the data itself, and a run checks them against it.
NOT_SETTINGS = ("paths", "logger", "pipeline", "stage")
DISPLAY_AND_LOCATION = {
    "trainer": ("enable_progress_bar", "enable_model_summary", "log_every_n_steps"),
    "callbacks": ("progress_bar",),
    "data": ("archive", "data_home", "num_workers", "unlabelled_file"),
}


def signed_settings(cfg: DictConfig) -> dict:
    """The resolved settings a signature covers, with each ``paths.*`` left as a placeholder,
    so a value derived from a path (the checkpoint folder, a store under ``paths.cache_dir``)
    reads the same wherever the run folder is."""
    placeholders = OmegaConf.create(OmegaConf.to_container(cfg, resolve=False))
    for key in placeholders.get("paths", {}):
        placeholders.paths[key] = f"<paths.{key}>"
    settings = OmegaConf.to_container(placeholders, resolve=True)
    for key in NOT_SETTINGS:
        settings.pop(key, None)
    for group, keys in DISPLAY_AND_LOCATION.items():
        for key in keys:
            (settings.get(group) or {}).pop(key, None)
    return settings


def run_signature(cfg: DictConfig, identities: list[str | None]) -> str:
    """SHA-256 of the signed settings and of the identities of the logit stores the run reads
    (``distill.cli.runners.input_identity``)."""
    text = json.dumps({"settings": signed_settings(cfg), "inputs": identities}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()
