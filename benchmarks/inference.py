"""Inference benchmark: every servable model of a pipeline run, end to end from raw text, on CPU.

    python benchmarks/inference.py logs/pipeline/<time> [--threads N] [--repeats R] [--docs D] [--out PATH]

Models: the teacher, the students, the classic ``sk_*`` baselines, and ``students_ensemble``
(``bilstm_kd`` and ``logistic_kd`` probabilities averaged with a weight fitted on val, see
``distill.student_ensemble``). Each runs in eager PyTorch and, where an export exists, in ONNX
Runtime (``python -m distill.export`` runs first for stages not exported yet, or exported from
an older checkpoint); classic ones in scikit-learn. Each (model, runtime) is measured in its
own process (``distill.inference_worker``):
latency at batch size 1 over the first D test documents (p50, p95), throughput at batch size
64 (median of R passes over the same D documents), preprocessing included, a fixed thread
count, peak resident memory, and test accuracy of that artefact on the full test split.

A teacher whose checkpoint is gone (reused from a cached logit file) is timed as its
architecture: the pretrained body with an untrained head, same compute, exported to ONNX in a
temporary folder (never into ``<run>/export``: it is not a model to serve). Its accuracy is
then the one its stage recorded, flagged by ``test_acc_source``. ``--models`` limits the run
to some stages. Run it from the repository root (the run's config names data paths relative
to it). Writes JSON (default ``benchmarks/results/inference.json``) and prints the same as a
Markdown table.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import onnxruntime
import sklearn
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from distill.atomic import write_text
from distill.cache import TeacherLogits, file_sha256
from distill.data.corpus import Corpus
from distill.export import MODULES, best_checkpoint, export_onnx, export_stage, is_current, stages, verify
from distill.features import WordPieceFeatures
from distill.inference_worker import BATCH_SIZE
from distill.predictors import build_net, softmax
from distill.student_ensemble import fit_weight

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "inference.json"
ENSEMBLE, ENSEMBLE_MEMBERS = "students_ensemble", ("bilstm_kd", "logistic_kd")
SPEED_ONLY = "pretrained body, untrained head (speed only)"
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "RAYON_NUM_THREADS")


@dataclass
class Job:
    """One (model, runtime) to measure; ``known`` fields replace measured ones in the record."""

    model: str
    role: str
    runtime: str
    members: list[dict]
    weights: list[float] = field(default_factory=lambda: [1.0])
    known: dict = field(default_factory=dict)


def pytorch_and_onnx(model: str, role: str, pytorch: dict, onnx: Path | None, known: dict | None = None) -> list[Job]:
    """The PyTorch job and, given an exported folder, its ONNX Runtime twin."""
    jobs = [Job(model, role, "pytorch", [pytorch], known=dict(known or {}))]
    if onnx is not None:
        member = {"runtime": "onnxruntime", "onnx": str(onnx / "model.onnx"), "features": str(onnx)}
        jobs.append(Job(model, role, "onnxruntime", [member], known=dict(known or {})))
    return jobs


def checkpoint_of(stage: Path) -> Path | None:
    """The checkpoint the stage's logits came from, if it is still on disk unchanged."""
    path = best_checkpoint(stage)
    recorded = TeacherLogits.load(stage / "logits.npz").manifest["teacher"].get("checkpoint_sha256")
    return path if path.is_file() and recorded in (None, file_sha256(path)) else None


def exported(run: Path, stage: Path) -> Path | None:
    folder = run / "export" / stage.name
    return folder if is_current(stage, folder) else None


def student_jobs(run: Path, stage: Path, summary: dict) -> list[Job]:
    checkpoint = checkpoint_of(stage)
    if checkpoint is None or not (stage / "features").is_dir():
        print(f"[inference] {stage.name}: no checkpoint with features/, skipped")
        return []
    kind = json.loads((stage / "features" / "features.json").read_text())["kind"]
    member = {"runtime": "pytorch", "module": MODULES[summary["role"], kind].__name__,
              "checkpoint": str(checkpoint), "features": str(stage / "features")}
    return pytorch_and_onnx(stage.name, summary["role"], member, exported(run, stage))


def teacher_jobs(run: Path, stage: Path, summary: dict, cfg: DictConfig, labels: list[str], work: Path) -> list[Job]:
    """The trained teacher, or (checkpoint gone) its architecture, exported here for ONNX."""
    checkpoint = checkpoint_of(stage)
    if checkpoint is not None and exported(run, stage) is not None:
        return student_jobs(run, stage, summary)
    folder = work / stage.name
    WordPieceFeatures(cfg.teacher.pretrained, cfg.teacher.max_length).save(folder, labels)
    member = {"runtime": "pytorch", "module": "TeacherModule", "features": str(folder)}
    known = {}
    if checkpoint is not None:
        member["checkpoint"] = str(checkpoint)
    else:
        member["init"] = {"num_classes": len(labels), "pretrained": cfg.teacher.pretrained}
        known = {"weights": SPEED_ONLY, "test_acc": summary["metrics"]["test/acc"],
                 "test_acc_source": f"{stage.name}/metrics.json (checkpoint not available)"}
    net = build_net(member)
    vocab_size = net.model.config.vocab_size
    export_onnx(net, "wordpiece", vocab_size, folder / "model.onnx")
    verify(net, "wordpiece", vocab_size, folder / "model.onnx")
    del net
    gc.collect()
    return pytorch_and_onnx(stage.name, "teacher", member, folder, known)


def ensemble_jobs(run: Path, jobs: list[Job], val: Corpus) -> list[Job]:
    """Both distilled students averaged, in each runtime both of them have."""
    if not all(any(job.model == name for job in jobs) for name in ENSEMBLE_MEMBERS):
        return []
    probs = [softmax(TeacherLogits.load(run / name / "logits.npz").lookup(val.ids)) for name in ENSEMBLE_MEMBERS]
    weight = fit_weight(*probs, val.labels)
    weights = [weight, 1.0 - weight]
    known = {"members": dict(zip(ENSEMBLE_MEMBERS, weights))}
    ensembles = []
    for runtime in ("pytorch", "onnxruntime"):
        members = [job.members[0] for name in ENSEMBLE_MEMBERS for job in jobs
                   if job.model == name and job.runtime == runtime]
        if len(members) == len(ENSEMBLE_MEMBERS):
            ensembles.append(Job(ENSEMBLE, "ensemble", runtime, members, weights, dict(known)))
    return ensembles


def plan(run: Path, cfg: DictConfig, splits: dict[str, Corpus], work: Path, models: list[str] | None) -> list[Job]:
    """Jobs for every completed stage (or ``models``): teacher, students, classic models, the ensemble."""
    labels = splits["test"].label_names
    wanted = None if models is None else {*models, *ENSEMBLE_MEMBERS}  # the ensemble needs its members' jobs
    jobs: dict[str, list[Job]] = {"teacher": [], "student": [], "classic": []}
    for stage in sorted(path.parent for path in run.glob("*/metrics.json")):
        summary = json.loads((stage / "metrics.json").read_text())
        role = summary.get("role")
        if summary.get("status") != "completed" or role not in jobs or (wanted and stage.name not in wanted):
            continue  # failed runs and ensemble teachers (logits only, nothing to serve)
        if role == "teacher":
            jobs[role] += teacher_jobs(run, stage, summary, cfg, labels, work)
        elif role == "student":
            jobs[role] += student_jobs(run, stage, summary)
        elif (stage / "model.pkl").is_file():
            member = {"runtime": "sklearn", "pickle": str(stage / "model.pkl")}
            jobs[role].append(Job(stage.name, role, "sklearn", [member]))
    every = [*jobs["teacher"], *jobs["student"], *jobs["classic"], *ensemble_jobs(run, jobs["student"], splits["val"])]
    return [job for job in every if models is None or job.model in models]


def export_missing(run: Path) -> None:
    """Export every stage with features/ whose current checkpoint ``<run>/export`` does not hold."""
    for stage in stages(run):
        if exported(run, stage) is None:
            export_stage(stage, run / "export" / stage.name)
            print(f"[inference] exported {stage.name} -> {run / 'export' / stage.name}")


def measure(job: Job, settings: dict, work: Path) -> dict:
    """Run the job in a fresh process, with every thread pool pinned to ``settings['threads']``."""
    name = f"{job.model}.{job.runtime}"
    spec = {"members": job.members, "weights": job.weights, "threads": settings["threads"],
            "repeats": settings["repeats"], "bench": str(work / "bench.json"),
            "test": None if "test_acc" in job.known else str(work / "test.json")}
    write_text(work / f"{name}.spec.json", json.dumps(spec))
    env = {**os.environ, **{variable: str(settings["threads"]) for variable in THREAD_VARIABLES}}
    command = [sys.executable, "-m", "distill.inference_worker", str(work / f"{name}.spec.json"),
               str(work / f"{name}.result.json")]
    print(f"[inference] {job.model} ({job.runtime}) ...", flush=True)
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        print(done.stderr[-3000:], file=sys.stderr)
        last = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
        return {"model": job.model, "role": job.role, "runtime": job.runtime, "error": last}
    result = json.loads((work / f"{name}.result.json").read_text())
    return {"model": job.model, "role": job.role, "runtime": job.runtime, **result, "test_acc_source": "computed",
            **job.known}


def finish(records: list[dict]) -> None:
    """ONNX graphs take the parameter count of their PyTorch twin; throughput relative to the teacher."""
    by_key = {(record["model"], record["runtime"]): record for record in records}
    teacher = next((record.get("throughput_docs_s") for record in records
                    if record["role"] == "teacher" and record["runtime"] == "pytorch"), None)
    for record in records:
        if "error" in record:
            continue
        if record["params"] is None:
            record["params"] = by_key.get((record["model"], "pytorch"), {}).get("params")
        record["speedup_vs_teacher"] = record["throughput_docs_s"] / teacher if teacher else None


def machine(threads: int) -> dict:
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
    names = [line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")]
    return {"cpu": names[0] if names else platform.processor(), "cores": os.cpu_count(), "threads": threads,
            "gpu": None}


def table(records: list[dict]) -> str:
    """Markdown: one row per record; ``*`` marks an accuracy not measured on this artefact."""
    rows = ["| model | runtime | p50 ms | p95 ms | docs/s (batch 64) | x teacher | params | size MB "
            "| peak RSS MB | test acc |", "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in records:
        if "error" in r:
            rows.append(f"| {r['model']} | {r['runtime']} | failed: {r['error']} |" + " |" * 7)
            continue
        speedup = f"{r['speedup_vs_teacher']:.1f}" if r["speedup_vs_teacher"] else "-"
        params = f"{r['params']:,}" if r["params"] else "-"
        flag = "" if r["test_acc_source"] == "computed" else "*"
        rows.append(f"| {r['model']} | {r['runtime']} | {r['latency_ms_p50']:.2f} | {r['latency_ms_p95']:.2f} "
                    f"| {r['throughput_docs_s']:.1f} | {speedup} | {params} | {r['size_mb']:.2f} "
                    f"| {r['peak_rss_mb']:.0f} | {r['test_acc']:.4f}{flag} |")
    if any(r.get("test_acc_source", "computed") != "computed" for r in records):
        rows.append(f"\n\\* from the stage's metrics.json; timed as the {SPEED_ONLY}.")
    return "\n".join(rows)


def benchmark(run: Path, threads: int, repeats: int, docs: int, models: list[str] | None = None) -> dict:
    """Measure every job of ``run`` one after the other; the JSON document, records in plan order."""
    if (run / "metrics.json").is_file():
        raise SystemExit(f"{run} is a single train.py run: give a pipeline.py run folder (one folder per stage)")
    cfg = OmegaConf.load(run / ".hydra" / "config.yaml")
    splits = instantiate(cfg.data, features=None).load_splits()
    test = splits["test"]
    export_missing(run)
    settings = {"threads": threads, "repeats": repeats, "docs": min(docs, len(test)), "batch_size": BATCH_SIZE,
                "test_docs": len(test)}
    with tempfile.TemporaryDirectory(prefix="inference-") as folder:
        work = Path(folder)
        write_text(work / "bench.json", json.dumps(test.texts[:docs]))
        write_text(work / "test.json", json.dumps({"texts": test.texts, "labels": test.labels.tolist()}))
        jobs = plan(run, cfg, splits, work, models)
        if not jobs:
            raise SystemExit(f"{run}: no completed stage to benchmark" + (f" among {models}" if models else ""))
        records = [measure(job, settings, work) for job in jobs]
    finish(records)
    return {
        "machine": machine(threads),
        "versions": {"torch": torch.__version__, "onnxruntime": onnxruntime.__version__,
                     "sklearn": sklearn.__version__, "python": platform.python_version()},
        "run": str(run),
        "settings": settings,
        "records": records,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a pipeline.py run folder (logs/pipeline/<time>)")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="intra-op threads (default: all cores)")
    parser.add_argument("--repeats", type=int, default=5, help="throughput passes; the median is reported")
    parser.add_argument("--docs", type=int, default=256, help="test documents timed (latency and throughput)")
    parser.add_argument("--models", nargs="+", default=None, help="only these stages (or students_ensemble)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"JSON path (default {DEFAULT_OUT})")
    args = parser.parse_args(argv)
    result = benchmark(args.run, args.threads, args.repeats, args.docs, args.models)
    write_text(args.out, json.dumps(result, indent=2))
    print(f"\n{table(result['records'])}\n\n{result['machine']} -> {args.out}")
    if any("error" in record for record in result["records"]):
        sys.exit(1)


if __name__ == "__main__":
    main()
