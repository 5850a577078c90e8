"""The teachers made elsewhere, which are never trained here: a Hugging Face classifier that labels
every split and the unlabelled file (``model=teacher_finetuned``), and logits read from a file
(``model=teacher_imported``). Each writes ``teacher.logits`` only once it is complete, with its val
and test scores, and records what a re-run checks before reusing it (``Role.verify``)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from omegaconf import DictConfig, OmegaConf

from distill.cli.config import data_module, load_splits, teacher_spec
from distill.cli.fitted import Fitted
from distill.cli.signature import signed_settings
from distill.data.corpus import Corpus
from distill.data.unlabelled import UNLABELLED_SOURCE_KEY
from distill.errors import UserError
from distill.evaluation import split_scores
from distill.logit_store import LogitStore, LogitStoreError, file_sha256

if TYPE_CHECKING:
    from distill.cli.roles import Role
    from distill.data.unlabelled import Scanned, UnlabelledFile
    from distill.teachers.hf_classifier import ClassifierTeacher

LABELLED = ("train", "val", "test")
SAMPLE = 64  # texts that backend=auto times both backends on


def scores(splits: dict[str, Corpus], logits: dict[str, np.ndarray]) -> dict[str, float]:
    """Val and test accuracy and macro-F1 from the logits, under the names the table shows."""
    metrics = split_scores("val", logits["val"], splits["val"].labels) | split_scores("test", logits["test"],
                                                                                       splits["test"].labels)
    metrics["val/acc_best"] = metrics["val/acc"]  # nothing is chosen on val: its one score is its best
    return metrics


def classifier(cfg: DictConfig, label_names: list[str], device: Any = "cpu") -> ClassifierTeacher:
    from distill.teachers.hf_classifier import ClassifierTeacher

    spec = teacher_spec(cfg)
    label_map = OmegaConf.to_container(cfg.teacher.label_map) if cfg.teacher.get("label_map") else None
    return ClassifierTeacher(spec.pretrained, label_names, label_map, spec.max_length,
                             batch_size=cfg.model.eval_batch_size, device=device)


def scan(unlabelled: UnlabelledFile | None, splits: dict[str, Corpus]) -> Scanned | None:
    """The unlabelled file checked whole (rows, UTF-8, ids clear of every labelled id), or None."""
    return unlabelled.scan(np.concatenate([splits[name].ids for name in LABELLED])) if unlabelled else None


def launched(cfg: DictConfig) -> Any:
    """A Lightning Fabric on the trainer's accelerator, devices and strategy, launched: under
    ``trainer=ddp`` each rank labels its own shards; on one GPU the model goes to that GPU."""
    import lightning as L

    trainer = cfg.trainer
    fabric = L.Fabric(accelerator=trainer.get("accelerator", "auto"), devices=trainer.get("devices", 1),
                      num_nodes=trainer.get("num_nodes", 1), strategy=trainer.get("strategy") or "auto")
    fabric.launch()
    return fabric


def stream(splits: dict[str, Corpus], extra: Iterator[tuple[np.ndarray, list[str]]] | None,
           extra_ids: list[np.ndarray]) -> Iterator[tuple[np.ndarray, list[str]]]:
    """Every document to label numbered by its place in one stream (train, val, test, then the
    unlabelled file's chunks, whose own ids go to ``extra_ids``): one labelling, one progress bar,
    and ids that cannot collide across splits."""
    position = 0
    for name in LABELLED:
        corpus = splits[name]
        yield np.arange(position, position + len(corpus)), list(corpus.texts)
        position += len(corpus)
    for ids, texts in extra or ():
        extra_ids.append(ids)
        yield np.arange(position, position + len(ids)), texts
        position += len(ids)


def labelling_folder(cfg: DictConfig, labelling: dict) -> Path:
    """One folder per labelling (model, data): a changed model labels afresh, a killed one resumes."""
    key = hashlib.sha256(json.dumps(labelling, sort_keys=True).encode()).hexdigest()[:16]
    return Path(cfg.paths.output_dir) / "labelling" / key


def fit_finetuned_teacher(cfg: DictConfig, role: Role, signature: str) -> Fitted:
    """Label train, val, test and the unlabelled file (store split ``unlabelled``) with the classifier."""
    from distill.data.unlabelled import SPLIT
    from distill.labelling import identity, label
    from distill.labelling_backends import labeller

    data = data_module(cfg)
    splits = data.load_splits()
    label_names = splits["train"].label_names
    unlabelled = data.unlabelled()
    scanned = scan(unlabelled, splits)
    fabric = launched(cfg)
    teacher = classifier(cfg, label_names, fabric.device)
    documents = sum(len(splits[name]) for name in LABELLED) + (scanned.documents if scanned else 0)
    inputs = {name: splits[name].fingerprint() for name in LABELLED} | {SPLIT: scanned and scanned.fingerprint()}
    spec = teacher_spec(cfg)
    who = identity(teacher.weights_sha256, teacher.max_length, inputs, quantized=spec.int8)
    folder = labelling_folder(cfg, who | {"label_map": teacher.source()["label_map_sha256"]})
    sample = list(splits["train"].texts[:SAMPLE])
    run_labeller, backend = labeller(teacher, spec.backend, folder, sample, spec.threads, spec.int8)
    extra_ids: list[np.ndarray] = []
    batches = stream(splits, unlabelled.batches(scanned) if scanned else None, extra_ids)
    merged = label(batches, lambda texts: run_labeller(texts)[:, teacher.columns], folder, who, documents,
                   rank=fabric.global_rank, world_size=fabric.world_size, barrier=fabric.barrier,
                   shard_size=spec.shard_size, batch_size=cfg.model.eval_batch_size)
    if merged is None:  # another rank: rank 0 writes the store
        return Fitted({}, None, labels=label_names)
    logits, position, parts = merged[1], 0, {}
    for name in LABELLED:
        parts[name] = logits[position : position + len(splits[name])]
        position += len(splits[name])
    corpora = {name: splits[name] for name in LABELLED}
    if scanned:
        corpora[SPLIT] = unlabelled.corpus(scanned, label_names)
        if not np.array_equal(corpora[SPLIT].ids, np.concatenate(extra_ids)):
            raise UserError(f"{unlabelled.path} changed while it was labelled; label it again once it stays unchanged")
        parts[SPLIT] = logits[position:]
    metrics = scores(splits, parts)
    source = {"kind": cfg.model.role, "model": cfg.model.name, **teacher.source(), "backend": backend,
              UNLABELLED_SOURCE_KEY: scanned.fingerprint() if scanned else None, "signature": signature,
              "settings": signed_settings(cfg), "metrics": metrics}
    store = LogitStore.from_predictions(corpora, parts, source)
    store.save(role.publishes(cfg))
    return Fitted(metrics, store, labels=label_names)


def fit_imported_teacher(cfg: DictConfig, role: Role, signature: str) -> Fitted:
    """The logits of ``teacher.imported`` over train, val and test, checked row by row."""
    from distill.imported_logits import imported_store

    splits = load_splits(cfg)
    classes = OmegaConf.to_container(cfg.teacher.classes) if cfg.teacher.get("classes") else None
    store = imported_store(cfg.teacher.imported, splits, classes, model=cfg.model.name)
    metrics = scores(splits, {name: store.aligned(name, splits[name].ids) for name in ("val", "test")})
    store = store.with_source(kind=cfg.model.role, signature=signature, settings=signed_settings(cfg),
                              metrics=metrics)
    store.save(role.publishes(cfg))
    return Fitted(metrics, store, labels=splits["train"].label_names)


def as_the_finetuned_teacher(cfg: DictConfig, store: LogitStore) -> None:
    """A store reused only when it holds this model's logits (weights, label mapping, tokenizer) on
    this data, the unlabelled file included."""
    data = data_module(cfg)
    splits = data.load_splits()
    store.verify_splits(splits, "Re-label with model=teacher_finetuned.")
    unlabelled = data.unlabelled()
    scanned = scan(unlabelled, splits)
    if store.source.get(UNLABELLED_SOURCE_KEY) != (scanned.fingerprint() if scanned else None):
        raise LogitStoreError("the store was labelled on another unlabelled file (data.unlabelled_file)")
    if not classifier(cfg, splits["train"].label_names).made(store.source):
        raise LogitStoreError("the store holds another model's logits than teacher.pretrained="
                              f"{cfg.teacher.pretrained} (weights, label mapping or tokenizer changed)")


def as_the_imported_teacher(cfg: DictConfig, store: LogitStore) -> None:
    """A store reused only when it was read from these bytes of ``teacher.imported``, on this data."""
    store.verify_splits(load_splits(cfg), "Re-import it with model=teacher_imported.")
    path = cfg.teacher.imported
    if not path or not Path(path).is_file() or store.source.get("file_sha256") != file_sha256(path):
        raise LogitStoreError(f"the store was imported from another file than teacher.imported={path}")
