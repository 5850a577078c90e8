"""Inference benchmark: every servable model of a pipeline run, end to end from raw text, on CPU.

    python benchmarks/inference.py logs/pipeline/<time> [--threads N] [--repeats R] [--docs D] [--out PATH]

``inference_plan.plan`` lists the (model, runtime) jobs: the teacher, the students, the
classic ``sk_*`` baselines, and ``students_ensemble`` (a distilled BiLSTM and logistic student,
the pair and the weight of their averaged probabilities chosen on val, see ``distill.student_ensemble``;
each member served as its refit on train and val where the run has one, see ``distill.run_folder.final_fit``; and
``students_ensemble_cascade``, the same top classes with the BiLSTM run only where it can change them), each
in every runtime ``distill.serving`` can load it in (PyTorch and, exported on the way, ONNX
Runtime; scikit-learn for classic ones). This script measures them, each (model, runtime) in
its own process (``inference_worker.py``): latency at batch size 1 over the first D raw test
messages (p50, p95), throughput at batch size 64 (median of R passes over the same D
documents), cleaning and preprocessing included, a fixed thread count, peak resident memory,
and test accuracy of that artefact on the full test split.

Run it from the repository root (the run's config names data paths relative to it). Writes
JSON (default ``<run>/inference.json``, beside the run it timed, where ``distill.model_card``
reads it) and prints the same as a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import onnxruntime
import sklearn
import torch
from omegaconf import OmegaConf

sys.path.insert(0, str(Path(__file__).resolve().parent))  # inference_plan, next to this script
from inference_plan import SPEED_ONLY, Job, plan, raw_splits  # noqa: E402
from inference_worker import BATCH_SIZE  # noqa: E402

from distill.atomic import write_text  # noqa: E402

OUT_NAME = "inference.json"  # in the run folder: never the committed benchmarks/results/
WORKER = Path(__file__).resolve().parent / "inference_worker.py"
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "RAYON_NUM_THREADS")


def measure(job: Job, settings: dict, work: Path) -> dict:
    """Run the job in a fresh process, with every thread pool pinned to ``settings['threads']``."""
    name = f"{job.model}.{job.runtime}"
    spec = {"members": job.members, "weights": job.weights, "combine": job.combine, "threads": settings["threads"],
            "repeats": settings["repeats"], "bench": str(work / "bench.json"),
            "test": None if "test_acc" in job.known else str(work / "test.json")}
    write_text(work / f"{name}.spec.json", json.dumps(spec))
    env = {**os.environ, **{variable: str(settings["threads"]) for variable in THREAD_VARIABLES}}
    command = [sys.executable, str(WORKER), str(work / f"{name}.spec.json"), str(work / f"{name}.result.json")]
    print(f"[inference] {job.model} ({job.runtime}) ...", flush=True)
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        print(done.stderr[-3000:], file=sys.stderr)
        last = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
        return {"model": job.model, "role": job.role, "runtime": job.runtime, "error": last}
    result = json.loads((work / f"{name}.result.json").read_text())
    return {"model": job.model, "role": job.role, "runtime": job.runtime, **result, "test_acc_source": "computed",
            "checkpoint_sha256": job.checkpoint_sha256, **job.known}


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
    splits = raw_splits(cfg)  # end to end: every model cleans raw messages as its training did
    test = splits["test"]
    settings = {"threads": threads, "repeats": repeats, "docs": min(docs, len(test)), "batch_size": BATCH_SIZE,
                "test_docs": len(test)}
    with tempfile.TemporaryDirectory(prefix="inference-") as folder:
        work = Path(folder)
        write_text(work / "bench.json", json.dumps(test.texts[:docs]))
        write_text(work / "test.json", json.dumps({"texts": test.texts, "labels": test.labels.tolist()}))
        jobs = plan(run, cfg, splits["val"], work, models)
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
    parser.add_argument("--models", nargs="+", default=None,
                        help="only these stages (or students_ensemble, students_ensemble_cascade)")
    parser.add_argument("--out", type=Path, default=None, help=f"JSON path (default <run>/{OUT_NAME})")
    args = parser.parse_args(argv)
    out = args.out or args.run / OUT_NAME
    result = benchmark(args.run, args.threads, args.repeats, args.docs, args.models)
    write_text(out, json.dumps(result, indent=2))
    print(f"\n{table(result['records'])}\n\n{result['machine']} -> {out}")
    if any("error" in record for record in result["records"]):
        sys.exit(1)


if __name__ == "__main__":
    main()
