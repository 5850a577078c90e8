"""A Lightning role's run in three steps: build (data, module, trainer), fit or restore, write the store."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import lightning as L
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from distill.cli.config import data_module, instantiate_all, teacher_spec
from distill.cli.fitted import Fitted, refits
from distill.cli.signature import signed_settings
from distill.cli.soft_targets import soft_targets
from distill.console import without_progress_bar_off_a_terminal
from distill.data.datamodule import TextDataModule
from distill.data.lightning_data import LightningData
from distill.errors import UserError
from distill.logit_store import LogitStore, file_sha256
from distill.module import ClassifierModule, predict_logits
from distill.naive_bayes_start import start_of
from distill.nets.size import weights_size

if TYPE_CHECKING:
    from distill.cli.roles import Role

# Keys of model.module that choose the net's start (a callback, distill.naive_bayes_start), with their
# defaults: the runner takes them out, as they are no arguments of the module.
START = {"init": "default", "init_smoothing": 1.0}


def encoded_data(cfg: DictConfig, role: Role) -> TextDataModule:
    """The configured data encoded by the model's features, with soft targets when the role distils."""
    datamodule = data_module(cfg, features=instantiate(cfg.model.features))
    splits = datamodule.load_splits()
    datamodule.encode(splits, soft_targets(cfg, splits) if role.distils else None)
    return datamodule


def build(cfg: DictConfig, role: Role) -> tuple[TextDataModule, ClassifierModule, L.Trainer]:
    """The encoded data (with its soft targets when the role distils), the module and its trainer."""
    if role.all_labels and cfg.data.get("labelled_fraction", 1.0) < 1.0:
        raise UserError(f"model={cfg.model.name} trains on every training label, and students verify its logits "
                        "against the full split: set data.labelled_fraction=1.0 for its stage")
    loss = instantiate(cfg.distill) if role.distils else None  # a bad loss setting is refused before any store is read
    datamodule = encoded_data(cfg, role)
    settings = OmegaConf.to_container(cfg.model.module, resolve=True)
    start = start_of(*(settings.pop(key, default) for key, default in START.items()))
    model = instantiate(settings, _recursive_=False, _convert_="all", num_classes=datamodule.num_classes,
                        vocab_size=datamodule.features.vocab_size,
                        loss=loss)
    loggers = instantiate_all(cfg.get("logger"))
    callbacks, progress_bar = without_progress_bar_off_a_terminal(instantiate_all(cfg.get("callbacks")))
    trainer: L.Trainer = instantiate(cfg.trainer, callbacks=[*callbacks, *([start] if start else [])],
                                     logger=loggers, **({} if progress_bar else {"enable_progress_bar": False}))
    for logger in loggers:
        logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))
    return datamodule, model, trainer


def fit_or_restore(cfg: DictConfig, role: Role, data: LightningData, model: ClassifierModule,
                   trainer: L.Trainer) -> str | None:
    """The checkpoint to score: the best one of a fit, or a given one (``Role.restores``), copied into
    the run folder so that the run's record never points outside it."""
    given = role.restores(cfg)
    if not given:
        trainer.fit(model, datamodule=data)
        return getattr(trainer.checkpoint_callback, "best_model_path", "") or None
    checkpoint = str(Path(cfg.paths.output_dir) / "checkpoints" / Path(given).name)
    if trainer.is_global_zero:
        Path(checkpoint).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(given, checkpoint)
    trainer.strategy.barrier()
    trainer.validate(model, datamodule=data, ckpt_path=checkpoint, verbose=False)
    return checkpoint


def write_store(cfg: DictConfig, role: Role, signature: str, datamodule: TextDataModule,
                model: ClassifierModule, trainer: L.Trainer, checkpoint: str, metrics: dict) -> Fitted:
    """The checkpoint's logits as a store (published for students when ``Role.publishes``), and its features.

    A published store covers every split (students learn its train logits) and records what
    students verify of a teacher; a refit learnt val, so its val logits, which would mislead
    whatever chooses on them (an ensemble's weights), are left out."""
    published = role.publishes(cfg)
    splits = None if published else ("test",) if refits(cfg) else ("val", "test")
    logits = predict_logits(trainer, model, datamodule, splits)  # trainer.test left the checkpoint's weights
    sha256 = file_sha256(checkpoint)
    source = {"kind": cfg.model.role, "model": cfg.model.name, "checkpoint_sha256": sha256,
              "precision": str(trainer.precision), "signature": signature, "metrics": metrics}
    if published:  # and the settings that make it reusable without its checkpoint
        spec = teacher_spec(cfg)
        source |= {"pretrained": spec.pretrained, "max_length": spec.max_length,
                   "tokenizer_sha256": datamodule.features.fingerprint(), "settings": signed_settings(cfg)}
    store = LogitStore.from_predictions({name: datamodule.splits[name] for name in logits}, logits, source)
    output_dir = Path(cfg.paths.output_dir)
    labels, cleaning = datamodule.label_names, datamodule.cleaning
    if trainer.is_global_zero:
        if published:
            store.save(published)
        datamodule.features.save(output_dir / "features", labels, cleaning)
    checkpoint_record = {"format": "lightning", "path": os.path.relpath(checkpoint, output_dir), "sha256": sha256}
    return Fitted(metrics, store, checkpoint_record, "features", labels, cleaning)


def fit_lightning(cfg: DictConfig, role: Role, signature: str) -> Fitted:
    """Fit (or restore) a Lightning model, test the checkpoint, write its store."""
    datamodule, model, trainer = build(cfg, role)
    data = LightningData(datamodule)
    checkpoint = fit_or_restore(cfg, role, data, model, trainer)
    metrics = {} if refits(cfg) else {"val/acc_best": _best_val_acc(trainer)}
    tested = trainer.test(model, datamodule=data, ckpt_path=checkpoint, verbose=False)[0]
    metrics |= {key: float(value) for key, value in tested.items()} | weights_size(model)
    if trainer.fast_dev_run:
        return Fitted(metrics, None, labels=datamodule.label_names, cleaning=datamodule.cleaning)
    if checkpoint is None:
        raise UserError("logits must come from a saved checkpoint: use callbacks=default")
    return write_store(cfg, role, signature, datamodule, model, trainer, checkpoint, metrics)


def _best_val_acc(trainer: L.Trainer) -> float:
    score = getattr(trainer.checkpoint_callback, "best_model_score", None)
    if score is None:
        score = trainer.callback_metrics.get("val/acc", float("nan"))
    return float(score)
