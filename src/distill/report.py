"""Tables and a full report that compare the teacher, the baselines and the distilled students.

    python -m distill.report <run> [--inference benchmarks/results/inference.json] [--out DIR]

Reads a pipeline run folder (``.hydra/config.yaml``, ``comparison.json`` and every stage's
``metrics.json`` and ``logits.npz``), re-scores every model from its cached test logits,
aligned to the labels by example id, and writes ``report.md``, ``report.json`` and plots to
``<run>/report/``. Agreement, cosine and KL are measured against the reference teacher: the
one the students were distilled from (``teacher_ensemble`` when the run has it).
"""

from __future__ import annotations

import argparse
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
from hydra.utils import instantiate
from omegaconf import OmegaConf

from distill import atomic, evaluation, plots
from distill.cache import CacheMismatchError, TeacherLogits
from distill.data.corpus import Corpus

COLUMNS = (
    ("val acc", "val/acc_best"),
    ("test acc", "test/acc"),
    ("test macro-F1", "test/f1_macro"),
    ("agreement w/ teacher", "test/agreement"),
    ("seconds", "seconds"),
)

SPLIT = "test"
REFERENCE_TEACHERS = ("teacher_ensemble", "teacher")  # the distillation teacher first
PLAIN_TEACHER = "teacher"
DEFAULT_INFERENCE = Path("benchmarks/results/inference.json")
TOP_K = 5
DARK_KNOWLEDGE_DOCS = 5
NEAR_MISS = (0.3, 0.7)  # teacher top-1 probability of a document worth showing
SNIPPET_CHARS = 200
NO_TEXT = "(no text left after removing headers, quotes and signatures)"


def _cell(value: float | None, key: str) -> str:
    if value is None:
        return "-"
    return f"{value:.0f}" if key == "seconds" else f"{value:.4f}"


def comparison_table(results: dict[str, dict[str, float]]) -> str:
    """A Markdown table, one row per model, in the order given."""
    header = "| model | " + " | ".join(title for title, _ in COLUMNS) + " |"
    rule = "|---|" + "---:|" * len(COLUMNS)
    rows = [
        f"| {name} | " + " | ".join(_cell(metrics.get(key), key) for _, key in COLUMNS) + " |"
        for name, metrics in results.items()
    ]
    return "\n".join([header, rule, *rows])


# --- reading the run folder -------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Stage:
    """A completed stage: its metrics.json record and its test probabilities in corpus order."""

    name: str
    record: dict
    manifest: dict
    probs: np.ndarray

    @property
    def role(self) -> str:
        return self.record.get("role", "?")

    @property
    def metrics(self) -> dict:
        return self.record.get("metrics", {})

    @property
    def val_acc(self) -> float | None:
        return self.metrics.get("val/acc_best", self.metrics.get("val/acc"))


def stage_order(run_dir: Path, cfg: Any) -> list[str]:
    """Stages as the pipeline ran them: its config, then comparison.json, then any other folder."""
    names = list(stage_overrides(cfg))
    comparison = run_dir / "comparison.json"
    if comparison.is_file():
        names += json.loads(comparison.read_text())
    names += sorted(path.parent.name for path in run_dir.glob("*/metrics.json"))
    return list(dict.fromkeys(names))


def aligned_logits(cache: TeacherLogits, corpus: Corpus, split: str = SPLIT) -> np.ndarray:
    """The cache's ``split`` logits in the corpus's row order, looked up by id, never by position."""
    if cache.manifest["label_names"] != corpus.label_names:
        raise CacheMismatchError(f"its labels {cache.manifest['label_names']} are not the run's {corpus.label_names}")
    if split not in cache.ids:
        raise CacheMismatchError(f"it has no {split} split")
    row = {int(example_id): index for index, example_id in enumerate(cache.ids[split])}
    missing = [int(example_id) for example_id in corpus.ids if int(example_id) not in row]
    if missing:
        raise CacheMismatchError(f"it lacks {len(missing)} {split} ids (first {missing[0]}): made on other data")
    return cache.logits[split][[row[int(example_id)] for example_id in corpus.ids]]


def load_stages(run_dir: Path, names: list[str], corpus: Corpus) -> tuple[dict[str, Stage], list[dict]]:
    """Completed stages with usable logits, and every other stage with the reason it is left out."""
    stages, left_out = {}, []
    for name in names:
        metrics_file, logits_file = run_dir / name / "metrics.json", run_dir / name / "logits.npz"
        if not metrics_file.is_file():
            left_out.append({"stage": name, "status": "not run", "reason": "no metrics.json"})
            continue
        record = json.loads(metrics_file.read_text())
        status = record.get("status", "completed")
        if status != "completed":
            left_out.append({"stage": name, "status": status, "reason": record.get("error", "")})
        elif not logits_file.is_file():
            left_out.append({"stage": name, "status": "no logits", "reason": "no logits.npz to score"})
        else:
            cache = TeacherLogits.load(logits_file)
            try:
                probs = evaluation.softmax(aligned_logits(cache, corpus))
            except CacheMismatchError as mismatch:
                left_out.append({"stage": name, "status": "mismatch", "reason": f"logits.npz: {mismatch}"})
                continue
            stages[name] = Stage(name, record, cache.manifest, probs)
    return stages, left_out


def _records(node: Any) -> Iterator[dict]:
    """Every latency record nested anywhere in inference.json (a list, a dict of them, ...)."""
    if isinstance(node, dict):
        if "model" in node and "latency_ms_p50" in node:
            yield node
            return
        node = list(node.values())
    if isinstance(node, list):
        for item in node:
            yield from _records(item)


def load_latency(path: Path) -> dict[str, dict]:
    """Each model's fastest batch-1 median latency (ms per document) and the runtime that gave it."""
    best: dict[str, dict] = {}
    for record in _records(json.loads(Path(path).read_text())):
        if record.get("batch_size", 1) != 1 or record["latency_ms_p50"] is None:
            continue
        model, latency = record["model"], float(record["latency_ms_p50"])
        if model not in best or latency < best[model]["ms"]:
            best[model] = {"ms": latency, "runtime": record.get("runtime")}
    return best


# --- scoring ----------------------------------------------------------------------------


def _finite(value: Any) -> Any:
    """JSON-safe: numpy scalars and arrays to Python, NaN and infinities to None."""
    if isinstance(value, np.ndarray):
        return [_finite(item) for item in value.tolist()]
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (np.integer, np.floating)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def summary_row(stage: Stage, labels: np.ndarray, reference: Stage | None, teacher: Stage | None,
                latency: dict | None) -> dict:
    """One model's row: its own metrics, latency, calibration and closeness to the teachers."""
    metrics = stage.metrics
    row = {
        "role": stage.role,
        "val_acc": stage.val_acc,
        "test_acc": metrics.get("test/acc"),
        "test_f1_macro": metrics.get("test/f1_macro"),
        "params": metrics.get("params"),
        "weights_mb": metrics.get("weights_mb"),
        "latency_ms": latency["ms"] if latency else None,
        "latency_runtime": latency["runtime"] if latency else None,
        "ece": evaluation.expected_calibration_error(stage.probs, labels),
        "agreement": None, "cosine": None, "kl": None,
    }
    if reference is not None:
        row |= {"agreement": evaluation.agreement(stage.probs, reference.probs),
                "cosine": evaluation.mean_cosine(stage.probs, reference.probs),
                "kl": evaluation.mean_kl(reference.probs, stage.probs)}
    if teacher is not None and reference is not teacher:
        row["agreement_teacher"] = evaluation.agreement(stage.probs, teacher.probs)
    return row


def per_class_scores(stage: Stage, labels: np.ndarray, names: list[str]) -> dict[str, dict]:
    scores = evaluation.per_class(labels, stage.probs.argmax(-1), len(names))
    return {name: {key: values[index] for key, values in scores.items()} for index, name in enumerate(names)}


def _snippet(text: str) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return text[:SNIPPET_CHARS] + ("..." if len(text) > SNIPPET_CHARS else "")


def dark_knowledge(reference: Stage, students: list[Stage], corpus: Corpus) -> list[dict]:
    """A few test documents the teacher is unsure about, with what each student believes of them.

    Near-misses (teacher top-1 probability in NEAR_MISS) with some text left show the teacher's
    spread over the other classes, which is what distillation transfers; the first documents
    fill any gap.
    """
    confidence = reference.probs.max(-1)
    has_text = np.array([bool(text.strip()) for text in corpus.texts])
    near = np.flatnonzero((confidence >= NEAR_MISS[0]) & (confidence <= NEAR_MISS[1]) & has_text)
    chosen = list(dict.fromkeys([*near.tolist(), *range(len(corpus))]))[:DARK_KNOWLEDGE_DOCS]
    names = corpus.label_names
    documents = []
    for index in chosen:
        top = np.argsort(-reference.probs[index], kind="stable")[:TOP_K]
        document = {
            "id": int(corpus.ids[index]),
            "text": _snippet(corpus.texts[index]),
            "label": names[corpus.labels[index]],
            "classes": [names[c] for c in top],
            "teacher": reference.probs[index, top].tolist(),
            "students": {},
        }
        for student in students:
            own = int(student.probs[index].argmax())
            document["students"][student.name] = {
                "probs": student.probs[index, top].tolist(),
                "top1": names[own], "top1_prob": float(student.probs[index, own]),
            }
        documents.append(document)
    return documents


def settings(stages: dict[str, Stage], plan: dict[str, list[str]]) -> dict[str, dict]:
    """How each stage was configured: its pipeline overrides, distillation settings, chosen
    classic params, ensemble weights."""
    chosen = {}
    for name, stage in stages.items():
        source = stage.manifest.get("teacher") or {}
        entry = {"overrides": plan.get(name), "distill": stage.record.get("distill")}
        if stage.role == "classic" and "params" in source:
            entry["params"] = source["params"]
        if "members" in source:
            entry["members"] = {member: {key: value[key] for key in ("weight", "temperature") if key in value}
                                for member, value in source["members"].items()}
        chosen[name] = entry
    return chosen


def stage_overrides(cfg: Any) -> dict[str, list[str]]:
    """Each stage's own overrides in the pipeline's plan, as written (interpolations unresolved)."""
    plan = OmegaConf.select(cfg, "pipeline.stages", default=None)
    plan = OmegaConf.to_container(plan, resolve=False) if plan is not None else []
    return {name: list(overrides) for stage in plan for name, overrides in stage.items()}


def _reference(stages: dict[str, Stage]) -> Stage | None:
    return next((stages[name] for name in REFERENCE_TEACHERS if name in stages), None)


def build_report(run_dir: str | Path, inference: str | Path | None = None) -> dict:
    """Every number of the report, JSON-ready; latency only from ``inference`` (never guessed)."""
    run_dir = Path(run_dir)
    cfg = OmegaConf.load(run_dir / ".hydra" / "config.yaml")
    corpus = instantiate(cfg.data, features=None).load_splits()[SPLIT]
    labels, names = corpus.labels, corpus.label_names
    stages, left_out = load_stages(run_dir, stage_order(run_dir, cfg), corpus)
    reference, teacher = _reference(stages), stages.get(PLAIN_TEACHER)
    latency = load_latency(Path(inference)) if inference else {}
    students = [stage for stage in stages.values() if stage.role == "student"]
    best = max((s for s in students if s.val_acc is not None), key=lambda s: s.val_acc, default=None)
    calibrated = ([reference] if reference else []) + students
    report = {
        "run_dir": str(run_dir),
        "split": SPLIT,
        "label_names": names,
        "reference_teacher": reference.name if reference else None,
        "inference": str(inference) if inference else None,
        "summary": {name: summary_row(stage, labels, reference, teacher, latency.get(name))
                    for name, stage in stages.items()},
        "left_out": left_out,
        "per_class": {name: per_class_scores(stage, labels, names) for name, stage in stages.items()},
        "confusion": None if best is None else {
            "model": best.name,
            "matrix": evaluation.confusion_matrix(labels, best.probs.argmax(-1), len(names)),
        },
        "reliability": {stage.name: evaluation.reliability(stage.probs, labels) for stage in calibrated},
        "dark_knowledge": [] if reference is None else dark_knowledge(reference, students, corpus),
        "settings": settings(stages, stage_overrides(cfg)),
    }
    return _finite(report)


# --- writing ----------------------------------------------------------------------------


def _number(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _count(value: float | None) -> str:
    if value is None:
        return "-"
    for size, suffix in ((1e6, "M"), (1e3, "k")):
        if value >= size:
            return f"{value / size:.1f}{suffix}"
    return f"{value:.0f}"


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1),
            *("| " + " | ".join(row) + " |" for row in rows)]


def summary_markdown(report: dict) -> list[str]:
    with_teacher = any("agreement_teacher" in row for row in report["summary"].values())
    header = ["model", "role", "val acc", "test acc", "test macro-F1", "params", "size MB", "latency ms/doc",
              "agreement", *(["agreement w/ teacher"] if with_teacher else []), "cosine", "KL", "ECE"]
    rows = []
    for name, row in report["summary"].items():
        latency = "-" if row["latency_ms"] is None else f"{row['latency_ms']:.2f} ({row['latency_runtime']})"
        rows.append([name, row["role"], _number(row["val_acc"]), _number(row["test_acc"]),
                     _number(row["test_f1_macro"]), _count(row["params"]), _number(row["weights_mb"], 2), latency,
                     _number(row["agreement"]),
                     *([_number(row.get("agreement_teacher"))] if with_teacher else []),
                     _number(row["cosine"]), _number(row["kl"]), _number(row["ece"])])
    lines = _table(header, rows)
    lines += ["", *(f"- **{item['stage']}** left out ({item['status']}): {_escape(item['reason'])}"
                    for item in report["left_out"])]
    return lines


def dark_knowledge_markdown(report: dict) -> list[str]:
    lines = []
    for document in report["dark_knowledge"]:
        header = ["model", *document["classes"], "own top-1"]
        rows = [[f"{report['reference_teacher']} (teacher)", *(f"{p:.3f}" for p in document["teacher"]),
                 f"{document['classes'][0]} ({document['teacher'][0]:.3f})"]]
        rows += [[name, *(f"{p:.3f}" for p in belief["probs"]), f"{belief['top1']} ({belief['top1_prob']:.3f})"]
                 for name, belief in document["students"].items()]
        lines += [f"### Test document {document['id']} (true label: {document['label']})", "",
                  f"> {_escape(document['text']) or NO_TEXT}", "", *_table(header, rows), ""]
    return lines


def per_class_markdown(report: dict) -> list[str]:
    lines = []
    for name, classes in report["per_class"].items():
        rows = [[label, _number(s["precision"]), _number(s["recall"]), _number(s["f1"]), str(s["support"])]
                for label, s in classes.items()]
        lines += [f"<details><summary>{name}</summary>", "",
                  *_table(["class", "precision", "recall", "F1", "support"], rows), "", "</details>", ""]
    return lines


def settings_markdown(report: dict) -> list[str]:
    lines = []
    for name, entry in report["settings"].items():
        parts = [f"{key}: `{json.dumps(value, sort_keys=True)}`" for key, value in entry.items() if value]
        lines.append(f"- **{name}**: " + ("; ".join(parts) if parts else "nothing recorded"))
    return lines


def render_markdown(report: dict, figures: dict[str, str]) -> str:
    reference = report["reference_teacher"]
    lines = [f"# Report: {report['run_dir']}", "",
             f"Scores on the {report['split']} split, recomputed from each stage's cached logits.",
             f"Agreement, cosine and KL(teacher || model) are measured against **{reference}**, "
             "the teacher the students were distilled from." if reference else
             "No teacher stage completed: agreement, cosine and KL are not available.",
             "Latency: median batch-1 ms per document, fastest runtime, from "
             f"{report['inference'] or 'no inference benchmark (-)'}.", "", "## Summary", "",
             *summary_markdown(report), "", "## Plots", ""]
    lines += [f"![{title}]({file})" for title, file in figures.items()]
    lines += ["", "## Dark knowledge", "", *dark_knowledge_markdown(report),
              "## Per-class scores", "", *per_class_markdown(report),
              "## How settings were chosen", "", *settings_markdown(report)]
    return "\n".join(lines).rstrip() + "\n"


def write_report(report: dict, out: Path) -> dict[str, str]:
    """Write the plots, report.json and report.md into ``out``; returns {plot title: file name}."""
    out.mkdir(parents=True, exist_ok=True)
    figures = {plots.accuracy_vs_latency(report, out / "accuracy.png"): "accuracy.png"}
    if report["confusion"] is not None:
        figures[plots.confusion(report, out / "confusion.png")] = "confusion.png"
    if report["reliability"]:
        figures[plots.reliability(report, out / "reliability.png")] = "reliability.png"
    atomic.write_text(out / "report.json", json.dumps({**report, "plots": figures}, indent=1, allow_nan=False))
    atomic.write_text(out / "report.md", render_markdown(report, figures))
    return figures


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path, help="a pipeline run folder")
    parser.add_argument("--inference", type=Path, default=None,
                        help=f"latency records (default {DEFAULT_INFERENCE} when it exists)")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default <run>/report)")
    args = parser.parse_args(argv)
    inference = args.inference or (DEFAULT_INFERENCE if DEFAULT_INFERENCE.is_file() else None)
    report = build_report(args.run_dir, inference)
    out = args.out or args.run_dir / "report"
    write_report(report, out)
    print(f"report: {out / 'report.md'}")
    return report


if __name__ == "__main__":
    main()
