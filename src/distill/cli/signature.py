"""What makes two runs the same: their resolved settings and the logits they read (by bytes; a
classic baseline's by the signature it records).

The pipeline skips a stage only when its earlier run has the same signature, so changing a
stage's settings, or re-fitting the teacher whose logits it distils from, re-runs it.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from distill.logit_store import file_sha256, recorded_source

# Where files go, how runs are logged and shown, the pipeline's plan and what a stage is to its
# readers: none changes what a run computes. The data's location is not a setting either: stores fingerprint the data itself.
NOT_SETTINGS = ("paths", "logger", "pipeline", "stage")
DISPLAY_AND_LOCATION = {
    "trainer": ("enable_progress_bar", "enable_model_summary", "log_every_n_steps"),
    "callbacks": ("progress_bar",),
    "data": ("archive", "data_home", "num_workers"),
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


def input_identity(path: str) -> str | None:
    """What a signature records of a store a run reads: its bytes, but for a classic baseline the
    signature it was made with. scikit-learn's solvers do not land on the same bits on every machine,
    so by bytes a new machine would re-fit the ensemble and replace the store that the transfer labels
    and the students were made from; a baseline's settings are what make two of them the same."""
    if not Path(path).is_file():
        return None
    source = recorded_source(path)
    if source.get("kind") == "classic" and source.get("signature"):
        return source["signature"]
    return file_sha256(path)


def run_signature(cfg: DictConfig, inputs: list[str]) -> str:
    """SHA-256 of the signed settings and of the identity (``input_identity``) of every logit
    store in ``inputs``.

    Input paths are normalised lexically: a member at ``<stage>/../sk_logreg/logits.npz`` must
    be found before the run has created ``<stage>``, or its identity would go unrecorded on the
    first run only.
    """
    hashes = [input_identity(path) for path in map(os.path.normpath, inputs)]
    text = json.dumps({"settings": signed_settings(cfg), "inputs": hashes}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()
