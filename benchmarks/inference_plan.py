"""Plan the inference benchmark: which (model, runtime) jobs a pipeline run offers, as folders
``distill.serving.load`` can open. Nothing is timed here (``inference.py`` measures).

A teacher whose checkpoint is gone (reused from a committed logit store) is timed as its
architecture: the pretrained body with an untrained head, same compute, saved as a stage in
the benchmark's temporary folder (never in the run: it is not a model to serve). Its
accuracy is then the one its stage recorded, flagged by ``test_acc_source``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from distill.atomic import write_text
from distill.cli.config import data_module
from distill.data.corpus import Corpus
from distill.export import export_stage
from distill.features import WordPieceFeatures
from distill.logit_store import LogitStore, file_sha256
from distill.probability import softmax
from distill.run_folder import SINGLE_TEACHER_ROLES, blend_pairs, final_fit, is_current, read_record
from distill.student_ensemble import choose_pair

ENSEMBLE = "students_ensemble"
CASCADE = "students_ensemble_cascade"  # the same top classes, its BiLSTM run only where it can change them
SPEED_ONLY = "pretrained body, untrained head (speed only)"


@dataclass
class Job:
    """One (model, runtime) to measure; ``members`` are {"path", "runtime"} for ``distill.serving.load``;
    ``known`` fields replace measured ones in the record."""

    model: str
    role: str
    runtime: str
    members: list[dict]
    weights: list[float] = field(default_factory=lambda: [1.0])
    known: dict = field(default_factory=dict)
    combine: str = "average"  # several members: "average" or "cascade" (``distill.serving``)
    checkpoint_sha256: str | None = None  # what the report matches its stage's checkpoint against


def raw_splits(cfg: DictConfig) -> dict[str, Corpus]:
    """The run's splits with no text cleaning: what a served model receives."""
    raw = OmegaConf.merge(cfg, {"data": {"remove": []}}) if OmegaConf.select(cfg, "data.remove") else cfg
    return data_module(raw).load_splits()


def has_checkpoint(stage: Path) -> bool:
    checkpoint = read_record(stage).get("checkpoint")
    return checkpoint is not None and (stage / checkpoint["path"]).is_file() and (
        file_sha256(stage / checkpoint["path"]) == checkpoint["sha256"])


def network_jobs(run: Path, stage: Path, role: str, known: dict | None = None) -> list[Job]:
    """PyTorch from the checkpoint, and ONNX Runtime from its export (made or refreshed here)."""
    export = run / "export" / stage.name
    if not is_current(stage, export):
        export_stage(stage, export)
        print(f"[inference] exported {stage.name} -> {export}")
    sha256 = None if known else read_record(stage)["checkpoint"]["sha256"]
    return [Job(stage.name, role, runtime, [{"path": str(path), "runtime": runtime}], known=dict(known or {}),
                checkpoint_sha256=sha256) for runtime, path in (("pytorch", stage), ("onnxruntime", export))]


def architecture_stage(stage: Path, cfg: DictConfig, work: Path) -> Path:
    """The teacher's architecture, untrained head, saved as a stage folder under ``work``."""
    import lightning as L  # only a teacher kept as logits alone needs a module built here: the rest reads checkpoints

    from distill.module import ClassifierModule

    record = read_record(stage)
    source = LogitStore.load(stage / "logits.npz").source  # the stage's own teacher, not the run's default
    folder = work / stage.name
    torch.manual_seed(0)  # the same untrained head in every process that loads it
    module = ClassifierModule({"_target_": "distill.nets.TransformerNet", "pretrained": source["pretrained"]},
                              num_classes=len(record["labels"]))
    folder.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": module.state_dict(), "hyper_parameters": dict(module.hparams),
                "pytorch-lightning_version": L.__version__}, folder / "model.ckpt")
    cleaning = data_module(cfg).cleaning
    WordPieceFeatures(source["pretrained"], source["max_length"]).save(folder / "features", record["labels"],
                                                                       cleaning)
    write_text(folder / "metrics.json", json.dumps({
        **record, "checkpoint": {"format": "lightning", "path": "model.ckpt",
                                 "sha256": file_sha256(folder / "model.ckpt")},
        "features": "features", "cleaning": cleaning}))
    return folder


def ensemble_jobs(run: Path, jobs: list[Job], records: dict[str, dict], val: Corpus) -> list[Job]:
    """Two distilled students averaged, in each runtime both have: the pair (of those ``records`` allow) and
    weight best on val, each member served as its final fit (``distill.run_folder.final_fit``: the refit on train
    and val, where the run has one). Each is measured twice: averaged, and as a cascade (the same top class, the
    first member run only where it could change it)."""
    timed = {name: records[name] for name in dict.fromkeys(job.model for job in jobs)}
    pairs = blend_pairs(timed)
    names = {name for pair in pairs for name in pair}
    probs = {name: softmax(LogitStore.load(run / name / "logits.npz").aligned("val", val.ids)) for name in names}
    chosen = choose_pair(probs, val.labels, pairs)
    if chosen is None:
        return []
    pair, weight = chosen
    served = [final_fit(name, timed) for name in pair]
    weights = [weight, 1.0 - weight]
    known = {"members": dict(zip(served, weights)), "chosen_on_val": list(pair)}
    ensembles = []
    for runtime in ("pytorch", "onnxruntime"):
        members = [job.members[0] for name in served for job in jobs if job.model == name and job.runtime == runtime]
        if len(members) == len(pair):
            ensembles += [Job(ENSEMBLE, "ensemble", runtime, members, weights, dict(known)),
                          Job(CASCADE, "ensemble", runtime, members, weights, dict(known), combine="cascade")]
    return ensembles


def plan(run: Path, cfg: DictConfig, val: Corpus, work: Path, models: list[str] | None) -> list[Job]:
    """Jobs for every completed stage (or ``models``): teacher, students, classic models, the ensemble."""
    folders = sorted(path.parent for path in run.glob("*/metrics.json"))
    records = {stage.name: read_record(stage) for stage in folders}
    members = {name for pair in blend_pairs(records) for name in pair}
    wanted = None if models is None else {*models, *members, *(final_fit(name, records) for name in members)}
    jobs: list[Job] = []
    for stage in folders:
        record = records[stage.name]
        if record.get("status") != "completed" or (wanted and stage.name not in wanted):
            continue
        format_ = (record.get("checkpoint") or {}).get("format")
        if format_ == "sklearn":
            jobs.append(Job(stage.name, record["role"], "sklearn", [{"path": str(stage), "runtime": "sklearn"}],
                            checkpoint_sha256=record["checkpoint"]["sha256"]))
        elif format_ == "lightning" and has_checkpoint(stage):
            jobs += network_jobs(run, stage, record["role"])
        elif record["role"] in SINGLE_TEACHER_ROLES:
            known = {"weights": SPEED_ONLY, "test_acc": record["metrics"]["test/acc"],
                     "test_acc_source": f"{stage.name}/metrics.json (checkpoint not available)"}
            architecture = architecture_stage(stage, cfg, work)
            jobs += network_jobs(work, architecture, "teacher", known)
        else:
            print(f"[inference] {stage.name}: no model to serve (logits only), skipped")
    students = [job for job in jobs if job.role == "student"]
    every = [*jobs, *ensemble_jobs(run, students, records, val)]
    return [job for job in every if models is None or job.model in models]
