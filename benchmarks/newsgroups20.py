"""Results of the full 20 Newsgroups experiment from a pipeline run folder.

    python benchmarks/newsgroups20.py logs/pipeline/<time>

Writes ``benchmarks/results/newsgroups20.json`` and ``.md`` (accuracy, macro-F1, agreement
per model, with the commands, git commit, machine and wall times), the full report under
``benchmarks/results/newsgroups20/report/``, and a compact copy of the run (configs, every
stage's metrics and test logits) under ``benchmarks/results/newsgroups20/run/`` so that
``python -m distill.report benchmarks/results/newsgroups20/run --inference <the same files>`` regenerates
the report on a fresh clone. With ``--other-protocol`` (the results of the same experiment under the other
validation split, ``benchmarks/results/newsgroups20_random_val.json``) the Markdown sets each
model's val and test accuracy under both side by side; the targets of the transfer-set work
are checked against the test accuracies and ``benchmarks/results/inference.json``. ``--inference`` names more
benchmark files where a stage was re-trained after the run was timed and re-timed on its own: each record counts
only for the checkpoint it loaded.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
from pathlib import Path

import torch

from distill import atomic
from distill.cli.report import report as build_report
from distill.logit_store import LogitStore
from distill.run_folder import SINGLE_TEACHER_ROLES, described, final_fit, read_record

RESULTS = Path(os.path.relpath(Path(__file__).parent / "results"))  # relative paths in the report


def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else None
    return {"cpu": cpu, "cores": os.cpu_count(), "gpu": gpu, "python": platform.python_version()}


def git_commit() -> str:
    return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()


def compact_copy(run_dir: Path, target: Path) -> None:
    """Configs, comparison and per-stage metrics plus test-split logits: what the report reads."""
    shutil.rmtree(target, ignore_errors=True)
    (target / ".hydra").mkdir(parents=True)
    shutil.copyfile(run_dir / ".hydra" / "config.yaml", target / ".hydra" / "config.yaml")
    shutil.copyfile(run_dir / "comparison.json", target / "comparison.json")
    for metrics in sorted(run_dir.glob("*/metrics.json")):
        stage = metrics.parent.name
        (target / stage).mkdir()
        shutil.copyfile(metrics, target / stage / "metrics.json")
        store = LogitStore.load(metrics.parent / "logits.npz")
        if "test" in store.ids:  # not the transfer set's labels: committed in benchmarks/artifacts
            store.only(["test"]).save(target / stage / "logits.npz")


def distilled(stage_dir: Path) -> bool:
    """Whether the stage learnt from a teacher's logits (its record's distill.alpha > 0)."""
    record = json.loads((stage_dir / "metrics.json").read_text())
    return (record.get("distill") or {}).get("alpha", 0.0) > 0.0


def training(overrides: list[str]) -> list[str]:
    """The overrides that set how a stage trains: not those of ``stage.*``, which say what it is to the run."""
    return [override for override in overrides if not override.startswith("stage.")]


def check_refits(run_dir: Path, comparison: dict) -> None:
    """A stage whose record names the stage it refits (``stage.refit_of``, its twin) is its twin plus
    ``refit=train_val model.max_epochs=N``, N the epoch val chose for the twin (its checkpoint's, from 0) + 1:
    a refit that drifted from its twin would be scored as its final fit."""
    for name, stage in comparison.items():
        own = run_dir / name
        twin = described(read_record(own))["refit_of"] if (own / "metrics.json").is_file() else None
        if twin is None:
            continue
        record = run_dir / twin / "metrics.json"
        checkpoint = (json.loads(record.read_text()).get("checkpoint") or {}) if record.is_file() else {}
        chosen = re.search(r"epoch(\d+)", checkpoint.get("path", ""))
        expected = None if chosen is None or twin not in comparison else [
            *training(comparison[twin]["overrides"]), "refit=train_val", f"model.max_epochs={int(chosen.group(1)) + 1}"]
        if training(stage["overrides"]) != expected:
            raise SystemExit(f"stage {name} is not the refit of {twin} as run here (expected overrides {expected}): "
                             "fix it in conf/experiment/newsgroups20.yaml and re-run it")


def results(run_dir: Path, report: dict, command: str) -> dict:
    """benchmarks/results/newsgroups20.json: one entry per model, plus how and where it ran."""
    comparison = json.loads((run_dir / "comparison.json").read_text())
    check_refits(run_dir, comparison)
    models = {}
    for name, row in report["summary"].items():
        stage = comparison.get(name, {})
        models[name] = {
            "role": row["role"], "val_acc": row["val_acc"], "test_acc": row["test_acc"],
            "test_f1_macro": row["test_f1_macro"], "agreement": row["agreement"],
            "agreement_teacher": row.get("agreement_teacher"), "ece": row["ece"],
            "params": row["params"], "weights_mb": row["weights_mb"],
            "overrides": stage.get("overrides"), "seconds": stage.get("train_seconds", stage.get("seconds")),
            "reused": bool(stage.get("skipped")), "distilled": distilled(run_dir / name),
        }
    return {"command": command, "git_commit": git_commit(), "machine": machine(), "run_dir": run_dir.name,
            "reference_teacher": report["reference_teacher"], "models": models}


def markdown(result: dict) -> str:
    header = ("| model | role | val acc | test acc | test macro-F1 | agreement w/ "
              f"{result['reference_teacher']} | agreement w/ teacher | seconds |")
    lines = ["# 20 Newsgroups (bydate, headers/footers/quotes removed)\n",
             f"`{result['command']}` at commit `{result['git_commit'][:12]}` on {result['machine']['cpu']} "
             f"({result['machine']['cores']} cores, GPU: {result['machine']['gpu'] or 'none'}).\n",
             header, "|---|---|" + "---:|" * 6]

    def cell(value: float | None, digits: int = 4) -> str:
        return "-" if value is None else f"{value:.{digits}f}"

    for name, model in result["models"].items():
        lines.append(f"| {name} | {model['role']} | {cell(model['val_acc'])} | {cell(model['test_acc'])} | "
                     f"{cell(model['test_f1_macro'])} | {cell(model['agreement'])} | "
                     f"{cell(model['agreement_teacher'])} | {cell(model['seconds'], 0)} |")
    return "\n".join(lines) + "\n"


TARGETS = (  # (what, model, baseline or None, threshold): test accuracy, or its gain over the baseline
    ("a single distilled student at the original's BERT", "distilled student best on val", None, 0.72),
    ("bilstm_kd_transfer over bilstm_kd", "bilstm_kd_transfer", "bilstm_kd", 0.02),
    ("logistic_kd_transfer over logistic_hard", "logistic_kd_transfer", "logistic_hard", 0.02),
)


def protocols(result: dict, other: dict) -> str:
    """Val and test accuracy of each model under both validation splits, and the val-test gap."""
    lines = ["\n## Both validation protocols (test is the same; val is drawn differently)\n",
             "| model | random val | random test | gap | ordered val | ordered test | gap |", "|---|" + "---:|" * 6]
    for name, model in result["models"].items():
        cells = []
        for run in (other["models"].get(name), model):
            if run is None or run["val_acc"] is None:
                cells += ["-", "-" if run is None else f"{run['test_acc']:.4f}", "-"]
            else:
                cells += [f"{run['val_acc']:.4f}", f"{run['test_acc']:.4f}", f"{run['val_acc'] - run['test_acc']:+.3f}"]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def targets(result: dict, inferences: list[dict], records: dict[str, dict]) -> str:
    """Each target of the transfer-set work: the value reached, the margin, met or missed (``records``: the run's
    stage records, which name each stage's refit)."""
    models = {name: m["test_acc"] for name, m in result["models"].items()}
    students = {name: m["val_acc"] for name, m in result["models"].items()
                if m["role"] == "student" and m.get("distilled") and m["val_acc"] is not None}
    best = max(students, key=students.get, default=None)  # chosen on val, as every other choice
    lines = ["\n## Targets (test accuracy)\n", "| target | reached | margin | |", "|---|---:|---:|---|"]
    for what, name, baseline, threshold in TARGETS:
        if name == "distilled student best on val":
            name = final_fit(best, records) if best is not None else None
        if name not in models or (baseline and baseline not in models):
            continue
        value = models[name] - (models[baseline] if baseline else 0.0)
        shown = f"{value:+.4f}" if baseline else f"{value:.4f} ({name})"
        lines.append(f"| {what} >= {threshold:g} | {shown} | {value - threshold:+.4f} | "
                     f"{'met' if value >= threshold else 'missed'} |")
    for inference in inferences:  # the first that timed the ensemble, against the teacher of that invocation
        timed = inference.get("records", [])
        teacher = max((r["throughput_docs_s"] for r in timed if r["role"] in SINGLE_TEACHER_ROLES), default=None)
        ensembles = [r for r in timed if r["role"] == "ensemble"]  # averaged, or its cascade
        if not (teacher and ensembles):
            continue
        fastest = max(ensembles, key=lambda r: r["throughput_docs_s"])
        speedup = fastest["throughput_docs_s"] / teacher
        met = fastest["test_acc"] >= 0.73 and speedup >= 10
        lines.append(f"| {fastest['model']} ({' + '.join(fastest['members'])}) >= 0.73 at >= 10x the teacher's "
                     f"throughput | {fastest['test_acc']:.4f} at {speedup:.1f}x | {fastest['test_acc'] - 0.73:+.4f}, "
                     f"{speedup - 10:+.1f}x | {'met' if met else 'missed'} |")
        break
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path, help="a pipeline.py experiment=newsgroups20 run folder")
    parser.add_argument("--command", default="python pipeline.py experiment=newsgroups20 "
                        "data.archive=../shared/data/20news-bydate.tar.gz", help="the command that made it")
    parser.add_argument("--inference", type=Path, nargs="+", default=None,
                        help="inference.py results of this run: the whole run, then stages re-timed after it "
                        "(default benchmarks/results/inference.json when it exists)")
    parser.add_argument("--other-protocol", type=Path, default=None,
                        help="results of the other validation split (newsgroups20_random_val.json)")
    args = parser.parse_args()
    given = args.inference or [path for path in [RESULTS / "inference.json"] if path.is_file()]
    timed = [Path(os.path.relpath(path)) for path in given]  # relative: the report names them
    if missing := [str(path) for path in timed if not path.is_file()]:
        raise SystemExit(f"no inference file {', '.join(missing)}: run benchmarks/inference.py on {args.run_dir} first")
    compact_copy(args.run_dir, RESULTS / "newsgroups20" / "run")
    report = build_report(RESULTS / "newsgroups20" / "run", timed, RESULTS / "newsgroups20" / "report")
    result = results(args.run_dir, report, args.command)
    inferences = [json.loads(path.read_text()) for path in timed]
    # speeds of another run's models are not this run's targets
    inferences = [inference for inference in inferences
                  if isinstance(inference, dict) and "run" in inference
                  and Path(inference["run"]).resolve() == args.run_dir.resolve()]
    records = {path.parent.name: read_record(path.parent) for path in sorted(args.run_dir.glob("*/metrics.json"))}
    text = markdown(result) + targets(result, inferences, records)
    if args.other_protocol:
        text += protocols(result, json.loads(args.other_protocol.read_text()))
    atomic.write_text(RESULTS / "newsgroups20.json", json.dumps(result, indent=2))
    atomic.write_text(RESULTS / "newsgroups20.md", text)
    print(text)


if __name__ == "__main__":
    main()
