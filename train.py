"""Train one model and write its metrics and logits to the run folder.

    python train.py model=teacher_minilm          # fine-tune the teacher, write teacher.logits
    python train.py model=bilstm                  # distil it into the BiLSTM student
    python train.py model=logistic distill=none   # hard-label baseline, same network
    python train.py model=sk_complementnb         # a classic scikit-learn baseline

Every run leaves ``metrics.json`` and ``logits.npz`` (its logits per split, keyed by example
id) in its output folder: reports, ensembles and sweeps read those.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import hydra
import lightning as L
from hydra.utils import instantiate
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf

from distill import atomic
from distill.cache import TeacherLogits, TeacherSpec, file_sha256, predict_logits
from distill.classic import fit_classic
from distill.ensemble import fit_ensemble
from distill.models.size import weights_size
from distill.signature import run_signature


def instantiate_all(group: DictConfig | None) -> list:
    """Every entry of a config group (callbacks, logger) that names a ``_target_``."""
    return [instantiate(entry) for entry in (group or {}).values() if entry and "_target_" in entry]


def fit_lightning(cfg: DictConfig) -> tuple[dict[str, float], TeacherLogits | None]:
    """Fit the teacher or a student, test its best checkpoint; the teacher also writes its cache."""
    teacher: TeacherSpec = instantiate(cfg.teacher)
    is_teacher = cfg.model.role == "teacher"
    loss = None if is_teacher else instantiate(cfg.distill)

    datamodule = instantiate(
        cfg.data,
        features=instantiate(cfg.model.features),
        teacher=None if is_teacher else teacher,
        require_teacher_logits=loss is not None and loss.uses_teacher,
    )
    datamodule.setup("fit")
    model = instantiate(
        cfg.model.module,
        _convert_="all",  # plain containers in hparams: checkpoints load with weights_only=True
        num_classes=datamodule.num_classes,
        vocab_size=datamodule.features.vocab_size,
        loss=loss,
    )
    loggers = instantiate_all(cfg.get("logger"))
    trainer: L.Trainer = instantiate(cfg.trainer, callbacks=instantiate_all(cfg.get("callbacks")), logger=loggers)
    for logger in loggers:
        logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))

    if is_teacher and teacher.ckpt_path:
        checkpoint = teacher.ckpt_path  # an already fine-tuned teacher: evaluate and cache it
        trainer.validate(model, datamodule=datamodule, ckpt_path=checkpoint)
    else:
        trainer.fit(model, datamodule=datamodule)
        checkpoint = getattr(trainer.checkpoint_callback, "best_model_path", "") or None
    metrics = {"val/acc_best": _best_val_acc(trainer)}
    metrics |= {k: float(v) for k, v in trainer.test(model, datamodule=datamodule, ckpt_path=checkpoint)[0].items()}
    metrics |= weights_size(model)
    if trainer.fast_dev_run:
        return metrics, None
    if checkpoint is None:
        raise ValueError("logits must come from a saved checkpoint: use callbacks=default")

    # trainer.test(ckpt_path=checkpoint) left the checkpoint's weights in `model`.
    logits = predict_logits(trainer, model, datamodule, None if is_teacher else ("val", "test"))
    source = {
        "pretrained": teacher.pretrained if is_teacher else cfg.model.name,
        "checkpoint": str(checkpoint),
        "checkpoint_sha256": file_sha256(checkpoint),
        "tokenizer_sha256": datamodule.features.fingerprint() if is_teacher else None,
        "max_length": datamodule.features.max_length if is_teacher else None,
        "metrics": metrics,
    }
    splits = {name: datamodule.splits[name] for name in logits}
    cache = TeacherLogits.from_predictions(splits, logits, source)
    if is_teacher and trainer.is_global_zero:
        cache.save(teacher.logits)
    if trainer.is_global_zero:  # what `python -m distill.export` needs besides the checkpoint
        datamodule.features.save(Path(cfg.paths.output_dir) / "features", datamodule.label_names)
    return metrics, cache


def finish_wandb(failed: bool) -> None:
    """Close this run's wandb run, as failed if it raised: otherwise the next run in this
    process (a sweep job, a pipeline stage) would log into it."""
    wandb = sys.modules.get("wandb")  # loaded only by logger=wandb: never import it here
    if wandb is not None and wandb.run is not None:
        wandb.finish(exit_code=int(failed))


def run(cfg: DictConfig) -> dict[str, float]:
    """Seed, fit the configured model by its role, write ``metrics.json`` and ``logits.npz``."""
    started = time.time()
    signature = run_signature(cfg)  # before fitting: the input caches as this run reads them
    L.seed_everything(cfg.seed, workers=True)
    fit = {"classic": fit_classic, "ensemble": fit_ensemble}.get(cfg.model.role, fit_lightning)
    failed = True
    try:
        metrics, logits = fit(cfg)
        failed = False
    finally:
        finish_wandb(failed)
    metrics["train_seconds"] = time.time() - started
    if rank_zero_only.rank == 0:  # one writer under DDP
        output_dir = Path(cfg.paths.output_dir)
        output_dir.mkdir(parents=True, exist_ok=True)
        if logits is not None:  # None after fast_dev_run
            logits.save(output_dir / "logits.npz")
        distill = cfg.get("distill") if cfg.model.role == "student" else None
        summary = {"model": cfg.model.name, "role": cfg.model.role, "status": "completed", "signature": signature,
                   "distill": OmegaConf.to_container(distill) if distill else None, "metrics": metrics}
        atomic.write_text(output_dir / "metrics.json", json.dumps(summary, indent=2))
    return metrics


def _best_val_acc(trainer: L.Trainer) -> float:
    score = getattr(trainer.checkpoint_callback, "best_model_score", None)
    if score is None:
        score = trainer.callback_metrics.get("val/acc", float("nan"))
    return float(score)


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float:
    """Returns ``optimized_metric`` (default: the best validation accuracy), which sweepers optimise.

    A failed run leaves ``metrics.json`` with its error, so a sweep summary can list it.
    """
    try:
        return run(cfg)[cfg.get("optimized_metric", "val/acc_best")]
    except Exception as error:
        failure = {"model": cfg.model.name, "status": "failed", "error": f"{type(error).__name__}: {error}"}
        Path(cfg.paths.output_dir).mkdir(parents=True, exist_ok=True)
        (Path(cfg.paths.output_dir) / "metrics.json").write_text(json.dumps(failure, indent=2))
        raise


if __name__ == "__main__":
    main()
