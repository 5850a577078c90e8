"""One runner per model role, and ``run``: seed, fit, write ``metrics.json`` and ``logits.npz``.

``ROLES`` is the one place a ``model.role`` is looked up: each role says how it is fitted and
which logit stores it reads (what its signature must cover).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
from hydra.utils import instantiate
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf

from distill import atomic
from distill.classic import fit_classic
from distill.cli.config import data_module, instantiate_all, load_splits, teacher_spec, transfer_of
from distill.cli.signature import run_signature, signed_settings
from distill.console import without_progress_bar_off_a_terminal
from distill.teacher_ensemble import fit_ensemble, save_unless_reproduced
from distill.errors import UserError
from distill.logit_store import LogitStore, file_sha256, load_verified
from distill.module import predict_logits
from distill.nets.size import weights_size
from distill.transfer_labels import label

log = logging.getLogger("distill")


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


def fit_lightning(cfg: DictConfig, signature: str) -> Fitted:
    """Fit the teacher or a student, test its best checkpoint; the teacher also writes its store."""
    is_teacher = cfg.model.role == "teacher"
    if is_teacher and cfg.data.get("labelled_fraction", 1.0) < 1.0:
        raise UserError("the teacher trains on every training label, and students verify its logits against the "
                        "full split: set data.labelled_fraction=1.0 for the teacher's stage")
    loss = None if is_teacher else instantiate(cfg.distill)
    spec = teacher_spec(cfg)
    learns_teacher = not is_teacher and loss.uses_teacher
    datamodule = data_module(cfg, features=instantiate(cfg.model.features), teacher=spec if learns_teacher else None,
                             transfer=transfer_of(cfg) if learns_teacher else None)
    datamodule.setup("fit")
    model = instantiate(cfg.model.module, _recursive_=False, _convert_="all",
                        num_classes=datamodule.num_classes, vocab_size=datamodule.features.vocab_size, loss=loss)
    loggers = instantiate_all(cfg.get("logger"))
    callbacks, progress_bar = without_progress_bar_off_a_terminal(instantiate_all(cfg.get("callbacks")))
    trainer: L.Trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers,
                                     **({} if progress_bar else {"enable_progress_bar": False}))
    for logger in loggers:
        logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))

    if is_teacher and spec.ckpt_path:  # an already fine-tuned teacher: evaluate and store its logits
        checkpoint = str(Path(cfg.paths.output_dir) / "checkpoints" / Path(spec.ckpt_path).name)
        if trainer.is_global_zero:  # a copy in the run folder, so the run's record never points outside it
            Path(checkpoint).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(spec.ckpt_path, checkpoint)
        trainer.strategy.barrier()
        trainer.validate(model, datamodule=datamodule, ckpt_path=checkpoint, verbose=False)
    else:
        trainer.fit(model, datamodule=datamodule)
        checkpoint = getattr(trainer.checkpoint_callback, "best_model_path", "") or None
    refit = refits(cfg)
    metrics = {} if refit else {"val/acc_best": _best_val_acc(trainer)}
    tested = trainer.test(model, datamodule=datamodule, ckpt_path=checkpoint, verbose=False)[0]
    metrics |= {key: float(value) for key, value in tested.items()}
    metrics |= weights_size(model)
    labels, cleaning = datamodule.label_names, datamodule.cleaning
    if trainer.fast_dev_run:
        return Fitted(metrics, None, labels=labels, cleaning=cleaning)
    if checkpoint is None:
        raise UserError("logits must come from a saved checkpoint: use callbacks=default")

    # trainer.test(ckpt_path=checkpoint) left the checkpoint's weights in `model`.
    # A refit learnt val: its val logits would mislead whatever chooses on them (an ensemble's weights).
    splits = None if is_teacher else ("test",) if refit else ("val", "test")
    logits = predict_logits(trainer, model, datamodule, splits)
    sha256 = file_sha256(checkpoint)
    source = {"kind": cfg.model.role, "model": cfg.model.name, "checkpoint_sha256": sha256,
              "precision": str(trainer.precision), "signature": signature, "metrics": metrics}
    if is_teacher:  # what students verify, and the settings that make the store reusable without its checkpoint
        source |= {"pretrained": spec.pretrained, "max_length": spec.max_length,
                   "tokenizer_sha256": datamodule.features.fingerprint(), "settings": signed_settings(cfg)}
    store = LogitStore.from_predictions({name: datamodule.splits[name] for name in logits}, logits, source)
    output_dir = Path(cfg.paths.output_dir)
    if trainer.is_global_zero:
        if is_teacher:
            store.save(spec.logits)
        datamodule.features.save(output_dir / "features", labels, cleaning)
    relative = os.path.relpath(checkpoint, output_dir)
    return Fitted(metrics, store, {"format": "lightning", "path": relative, "sha256": sha256}, "features",
                  labels, cleaning)


def fit_classic_run(cfg: DictConfig, signature: str) -> Fitted:
    """A scikit-learn baseline: grid on val, pickled to ``model.pkl``."""
    data = data_module(cfg)
    splits = data.load_splits()
    grid = OmegaConf.to_container(cfg.model.search, resolve=True) or {}
    path = Path(cfg.paths.output_dir) / "model.pkl"
    metrics, store = fit_classic(cfg.model.name, splits, instantiate(cfg.model.vectorizer),
                                 instantiate(cfg.model.estimator), grid, cfg.model.out_of_fold, cfg.seed, path)
    store = store.with_source(signature=signature)  # what identifies it to an ensemble (input_identity)
    return Fitted(metrics, store, {"format": "sklearn", "path": path.name, "sha256": file_sha256(path)}, None,
                  splits["train"].label_names, data.cleaning)


def ensemble_members(cfg: DictConfig) -> dict[str, str]:
    return {name: os.path.normpath(path) for name, path in cfg.model.members.items()}


def fit_ensemble_run(cfg: DictConfig, signature: str) -> Fitted:
    """Weights and temperatures on val over ``model.members``; the store also goes to ``model.output``."""
    splits = load_splits(cfg)
    transformer = load_verified(teacher_spec(cfg), splits, required=True)
    members = {}
    for name, path in ensemble_members(cfg).items():
        member = LogitStore.load(path, f"run it first (python train.py model={name} ...) or set model.members.{name}")
        member.verify_splits(splits, f"Re-run {name} on this data or fix model.members.{name}.")
        members[name] = member
    metrics, store = fit_ensemble(cfg.model.name, splits, transformer, members)
    # like the teacher's store: reusable by the pipeline where it is committed (Role.publishes)
    store = store.with_source(signature=signature, settings=signed_settings(cfg), metrics=metrics)
    if rank_zero_only.rank == 0:
        save_unless_reproduced(store, Path(cfg.model.output))
    return Fitted(metrics, store, labels=splits["train"].label_names)


def fit_transfer_labels(cfg: DictConfig, signature: str) -> Fitted:
    """The ensemble at ``model.labeller`` labels the transfer set; the store goes to ``transfer.logits``."""
    transfer = transfer_of(cfg)
    if transfer is None:
        raise UserError("model=transfer_labels labels a transfer set: add transfer=tang")
    splits = load_splits(cfg)
    ensemble = LogitStore.load(cfg.model.labeller, "run the teacher_ensemble stage first")
    ensemble.verify_splits(splits, "Re-run the teacher_ensemble stage on this data.")
    classes = transfer.fit_classes(splits["train"])
    corpus = transfer.generate(splits["train"], classes)
    metrics = {"transfer/examples": float(len(corpus)), "transfer/sources": float(len(splits["train"]))}
    source = {"kind": "transfer", "model": cfg.model.name, "rules": transfer.rules(), "word_classes": classes,
              "source_fingerprint": splits["train"].fingerprint(), "signature": signature,
              "settings": signed_settings(cfg), "metrics": metrics}
    stages = {name: Path(os.path.normpath(path)) for name, path in cfg.model.members.items()}
    store = label(corpus, ensemble, stages, source)
    metrics |= {f"transfer/seconds_per_10k/{name}": value for name, value in store.source["seconds_per_10k"].items()}
    if rank_zero_only.rank == 0:
        store.save(transfer.logits)
    return Fitted(metrics, store, labels=splits["train"].label_names)


def verify_published(cfg: DictConfig, store: LogitStore) -> None:
    """A published store (``Role.publishes``) against this run's data, as its readers will check it."""
    if cfg.model.role in ("teacher", "ensemble"):
        store.verify(load_splits(cfg), teacher_spec(cfg))
    else:
        rules = transfer_of(cfg)
        classes = rules.recorded_classes(store.source, rules.logits)
        store.verify_splits({"transfer": rules.generate(load_splits(cfg)["train"], classes)})


@dataclass(frozen=True)
class Role:
    fit: Callable[[DictConfig, str], Fitted]
    reads: Callable[[DictConfig], list[str]]  # the logit stores a run reads
    # The store a run writes for others outside its folder: a committed copy there is reused
    # without re-running (the teacher's checkpoint is not committed, so it cannot re-label, and
    # re-fitting the ensemble elsewhere would replace what the transfer labels were made from).
    publishes: Callable[[DictConfig], str | None] = lambda cfg: None


def student_reads(cfg: DictConfig) -> list[str]:
    if not distils(cfg):
        return []
    transfer = transfer_of(cfg)
    return [cfg.teacher.logits, *([transfer.logits] if transfer else [])]


ROLES = {
    "teacher": Role(fit_lightning, lambda cfg: [], lambda cfg: cfg.teacher.logits),
    "student": Role(fit_lightning, student_reads),
    "classic": Role(fit_classic_run, lambda cfg: []),
    "ensemble": Role(fit_ensemble_run, lambda cfg: [cfg.teacher.logits, *ensemble_members(cfg).values()],
                     lambda cfg: cfg.model.output),
    "transfer": Role(fit_transfer_labels, lambda cfg: [cfg.model.labeller], lambda cfg: cfg.transfer.logits),
}


def role_of(cfg: DictConfig) -> Role:
    if cfg.model.role not in ROLES:
        raise UserError(f"model.role={cfg.model.role} is not one of {sorted(ROLES)}: "
                        f"fix conf/model/{cfg.model.name}.yaml")
    return ROLES[cfg.model.role]


def signature_of(cfg: DictConfig) -> str:
    return run_signature(cfg, role_of(cfg).reads(cfg))


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
    if cfg.model.role != "student":
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
        fitted = role.fit(cfg, signature)
        failed = False
    finally:
        finish_wandb(failed)
    fitted.metrics["train_seconds"] = time.time() - started
    log.info(summary_line(cfg.model.name, fitted.metrics))
    if rank_zero_only.rank == 0:  # one writer under DDP
        output_dir = Path(cfg.paths.output_dir)
        if fitted.logits is not None:
            fitted.logits.save(output_dir / "logits.npz")
        record = {"model": cfg.model.name, "role": cfg.model.role, "status": "completed", "signature": signature,
                  "distill": OmegaConf.to_container(cfg.distill) if cfg.model.role == "student" else None,
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


def _best_val_acc(trainer: L.Trainer) -> float:
    score = getattr(trainer.checkpoint_callback, "best_model_score", None)
    if score is None:
        score = trainer.callback_metrics.get("val/acc", float("nan"))
    return float(score)
