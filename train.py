"""Train one model: the teacher (then cache its logits) or a student (from the cached logits).

    python train.py model=teacher_minilm          # fine-tune the teacher, write teacher.logits
    python train.py model=bilstm                  # distil it into the BiLSTM student
    python train.py model=logistic distill=none   # hard-label baseline, same network
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import hydra
import lightning as L
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from distill.cache import TeacherLogits, TeacherSpec, file_sha256, predict_logits


def instantiate_all(group: DictConfig | None) -> list:
    """Every entry of a config group (callbacks, logger) that names a ``_target_``."""
    return [instantiate(entry) for entry in (group or {}).values() if entry and "_target_" in entry]


def run(cfg: DictConfig) -> dict[str, float]:
    """Seed, instantiate, fit, test with the best checkpoint; write the teacher's cache."""
    started = time.time()
    L.seed_everything(cfg.seed, workers=True)
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

    if is_teacher and not trainer.fast_dev_run:
        if checkpoint is None:
            raise ValueError("the teacher's logits must come from a saved checkpoint: use callbacks=default")
        # trainer.test(ckpt_path=checkpoint) left the checkpoint's weights in `model`.
        logits = predict_logits(trainer, model, datamodule)  # every rank takes part
        if trainer.is_global_zero:
            teacher_manifest = {
                "pretrained": teacher.pretrained,
                "checkpoint": str(checkpoint),
                "checkpoint_sha256": file_sha256(checkpoint),
                "tokenizer_sha256": datamodule.features.fingerprint(),
                "max_length": datamodule.features.max_length,
                "metrics": metrics,
            }
            TeacherLogits.from_predictions(datamodule.splits, logits, teacher_manifest).save(teacher.logits)

    metrics["train_seconds"] = time.time() - started
    if trainer.is_global_zero:
        summary = {"model": cfg.model.name, "status": "completed",
                   "distill": None if is_teacher else OmegaConf.to_container(cfg.distill), "metrics": metrics}
        Path(cfg.paths.output_dir).mkdir(parents=True, exist_ok=True)
        (Path(cfg.paths.output_dir) / "metrics.json").write_text(json.dumps(summary, indent=2))
    return metrics


def _best_val_acc(trainer: L.Trainer) -> float:
    score = getattr(trainer.checkpoint_callback, "best_model_score", None)
    if score is None:
        score = trainer.callback_metrics.get("val/acc", float("nan"))
    return float(score)


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float:
    """Returns the best validation accuracy, the metric sweepers optimise.

    A failed run leaves ``metrics.json`` with its error, so a sweep summary can list it.
    """
    try:
        return run(cfg)["val/acc_best"]
    except Exception as error:
        failure = {"model": cfg.model.name, "status": "failed", "error": f"{type(error).__name__}: {error}"}
        Path(cfg.paths.output_dir).mkdir(parents=True, exist_ok=True)
        (Path(cfg.paths.output_dir) / "metrics.json").write_text(json.dumps(failure, indent=2))
        raise


if __name__ == "__main__":
    main()
