"""The roles fitted without Lightning: a scikit-learn baseline, the teacher ensemble, the transfer labels."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from hydra.utils import instantiate
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf

from distill.classic import fit_classic
from distill.cli.config import data_module, load_splits, transfer_of, verified_teacher
from distill.cli.fitted import Fitted
from distill.cli.signature import signed_settings
from distill.errors import UserError
from distill.logit_store import LogitStore, file_sha256
from distill.teacher_ensemble import fit_ensemble, save_unless_reproduced
from distill.transfer_labels import label

if TYPE_CHECKING:
    from distill.cli.roles import Role


def fit_classic_run(cfg: DictConfig, role: Role, signature: str) -> Fitted:
    """A scikit-learn baseline: grid on val, pickled to ``model.pkl``."""
    data = data_module(cfg)
    splits = data.load_splits()
    grid = OmegaConf.to_container(cfg.model.search, resolve=True) or {}
    path = Path(cfg.paths.output_dir) / "model.pkl"
    metrics, store = fit_classic(cfg.model.name, splits, instantiate(cfg.model.vectorizer),
                                 instantiate(cfg.model.estimator), grid, cfg.model.out_of_fold, cfg.seed, path)
    store = store.with_source(signature=signature)  # what identifies it to an ensemble (Role.known_by_signature)
    return Fitted(metrics, store, {"format": "sklearn", "path": path.name, "sha256": file_sha256(path)}, None,
                  splits["train"].label_names, data.cleaning)


def ensemble_members(cfg: DictConfig) -> dict[str, str]:
    return {name: os.path.normpath(path) for name, path in cfg.model.members.items()}


def fit_ensemble_run(cfg: DictConfig, role: Role, signature: str) -> Fitted:
    """Weights and temperatures on val over ``model.members``; the store also goes to ``model.output``."""
    splits = load_splits(cfg)
    transformer = verified_teacher(cfg, splits)
    members = {}
    for name, path in ensemble_members(cfg).items():
        member = LogitStore.load(path, f"run it first (python train.py model={name} ...) or set model.members.{name}")
        member.verify_splits(splits, f"Re-run {name} on this data or fix model.members.{name}.")
        members[name] = member
    metrics, store = fit_ensemble(cfg.model.name, splits, transformer, members)
    # like the teacher's store: reusable by the pipeline where it is committed (Role.publishes)
    store = store.with_source(signature=signature, settings=signed_settings(cfg), metrics=metrics)
    if rank_zero_only.rank == 0:
        save_unless_reproduced(store, Path(role.publishes(cfg)))
    return Fitted(metrics, store, labels=splits["train"].label_names)


def fit_transfer_labels(cfg: DictConfig, role: Role, signature: str) -> Fitted:
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
    source = {"kind": cfg.model.role, "model": cfg.model.name, "rules": transfer.rules(), "word_classes": classes,
              "source_fingerprint": splits["train"].fingerprint(), "signature": signature,
              "settings": signed_settings(cfg), "metrics": metrics}
    stages = {name: Path(os.path.normpath(path)) for name, path in cfg.model.members.items()}
    store = label(corpus, ensemble, stages, source)
    metrics |= {f"transfer/seconds_per_10k/{name}": value for name, value in store.source["seconds_per_10k"].items()}
    if rank_zero_only.rank == 0:
        store.save(role.publishes(cfg))
    return Fitted(metrics, store, labels=splits["train"].label_names)
