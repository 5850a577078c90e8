"""``run``: seed, fit the configured model by its role (``distill.cli.roles``), write ``metrics.json``
and ``logits.npz``; and a run's signature, what the pipeline compares to skip a stage."""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from pathlib import Path

import lightning as L
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf

from distill import atomic
from distill.cli.fitted import refits
from distill.cli.roles import ROLES, role_of
from distill.cli.signature import run_signature
from distill.errors import UserError
from distill.logit_store import file_sha256, recorded_source

log = logging.getLogger("distill")


def input_identity(path: str) -> str | None:
    """What a signature records of a store a run reads: its bytes, or the signature it was made with
    when its role is known by it (``Role.known_by_signature``: a classic baseline's). None when absent."""
    if not Path(path).is_file():
        return None
    source = recorded_source(path)
    role = ROLES.get(source.get("kind"))
    if role is not None and role.known_by_signature and source.get("signature"):
        return source["signature"]
    return file_sha256(path)


def signature_of(cfg: DictConfig) -> str:
    """The run's signature over its settings and the stores its role reads.

    Input paths are normalised lexically: a member at ``<stage>/../sk_logreg/logits.npz`` must
    be found before the run has created ``<stage>``, or its identity would go unrecorded on the
    first run only.
    """
    return run_signature(cfg, [input_identity(path) for path in map(os.path.normpath, role_of(cfg).reads(cfg))])


def finish_wandb(failed: bool) -> None:
    """Close this run's wandb run, as failed if it raised: otherwise the next run in this
    process (a sweep job, a pipeline stage) would log into it."""
    wandb = sys.modules.get("wandb")  # loaded only by logger=wandb: never import it here
    if wandb is not None and wandb.run is not None:
        wandb.finish(exit_code=int(failed))


def check_refit(cfg: DictConfig) -> None:
    """A refit (train and val together) is a student's final fit, with validation off (refit=train_val)."""
    if not refits(cfg):
        return
    if not role_of(cfg).distils:
        raise UserError(f"data.refit trains a student on val too; model={cfg.model.name} is a {cfg.model.role}, whose "
                        "val logits must stay held out (the ensemble and the students choose on them): drop refit")
    if cfg.trainer.get("limit_val_batches", 1.0) != 0:
        raise UserError("data.refit=true trains on val, so val cannot choose the checkpoint: select refit=train_val "
                        "(it also turns validation and early stopping off) instead of setting data.refit")


def run(cfg: DictConfig) -> dict[str, float]:
    """Seed, fit the configured model by its role, write ``metrics.json`` and ``logits.npz``."""
    started = time.time()
    role = role_of(cfg)
    check_refit(cfg)
    signature = signature_of(cfg)  # before fitting: the input stores as this run reads them
    L.seed_everything(cfg.seed, workers=True)
    failed = True
    try:
        fitted = role.fit(cfg, role, signature)
        failed = False
    finally:
        finish_wandb(failed)
    fitted.metrics["train_seconds"] = time.time() - started
    if rank_zero_only.rank == 0:  # one writer under DDP (another rank may hold no metrics: a labeller's)
        log.info(summary_line(cfg.model.name, fitted.metrics))
        output_dir = Path(cfg.paths.output_dir)
        if fitted.logits is not None:
            fitted.logits.save(output_dir / "logits.npz")
        record = {"model": cfg.model.name, "role": cfg.model.role, "status": "completed", "signature": signature,
                  "distill": OmegaConf.to_container(cfg.distill) if role.distils else None,
                  "checkpoint": fitted.checkpoint, "features": fitted.features, "labels": fitted.labels,
                  "cleaning": fitted.cleaning, "stage": OmegaConf.to_container(cfg.stage), "metrics": fitted.metrics}
        atomic.write_text(output_dir / "metrics.json", json.dumps(record, indent=2))
    return fitted.metrics


def record_failure(cfg: DictConfig, error: BaseException) -> None:
    """Leave ``metrics.json`` with the error (rank 0, atomically), so a sweep summary can list it."""
    if rank_zero_only.rank == 0:
        failure = {"model": cfg.model.name, "status": "failed", "error": f"{type(error).__name__}: {error}"}
        atomic.write_text(Path(cfg.paths.output_dir) / "metrics.json", json.dumps(failure, indent=2))


def summary_line(name: str, metrics: dict[str, float]) -> str:
    """``logistic_kd: val acc 0.8123 | test acc 0.8010 | agreement 0.91 | 42 s``."""
    parts = [f"{label} {metrics[key]:.4f}" for label, key in
             (("val acc", "val/acc_best"), ("test acc", "test/acc"), ("agreement w/ teacher", "test/agreement"))
             if key in metrics]
    return f"{name}: " + " | ".join([*parts, f"{metrics['train_seconds']:.0f} s"])
