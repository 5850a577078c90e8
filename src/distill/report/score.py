"""Score every stage of a run from its logits: accuracy, calibration, closeness to the teacher."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from distill import evaluation
from distill.data.corpus import Corpus
from distill.report.collect import SPLIT, Stage, load_latency, load_stages, stage_order
from distill.run_folder import distillation_teacher, single_teacher
from distill.serving.size import served_size_mb

TOP_K = 5
DARK_KNOWLEDGE_DOCS = 5
NEAR_MISS = (0.3, 0.7)  # teacher top-1 probability of a document worth showing
SNIPPET_CHARS = 200


def json_safe(value: Any) -> Any:
    """``value`` with numpy scalars and arrays turned to Python, and NaN and infinities to None."""
    if isinstance(value, np.ndarray):
        return [json_safe(item) for item in value.tolist()]
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
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
        source = stage.manifest.get("source") or {}
        entry = {"overrides": plan.get(name), "distill": stage.record.get("distill")}
        if stage.role == "classic" and "params" in source:
            entry["params"] = source["params"]
        if "members" in source:
            entry["members"] = {member: {key: value[key] for key in ("weight", "temperature") if key in value}
                                for member, value in source["members"].items()}
        chosen[name] = entry
    return chosen


def build_report(run_dir: str | Path, corpus: Corpus, plan: dict[str, list[str]],
                 inference: Sequence[str | Path] = ()) -> dict:
    """Every number of the report, JSON-ready, scored on ``corpus`` (the test split); ``plan``
    holds each stage's pipeline overrides; latency only from the ``inference`` files (never guessed)."""
    run_dir = Path(run_dir)
    labels, names = corpus.labels, corpus.label_names
    stages, left_out = load_stages(run_dir, stage_order(run_dir, plan), corpus)
    records = {name: stage.record for name, stage in stages.items()}
    reference, teacher = stages.get(distillation_teacher(records)), stages.get(single_teacher(records))
    checkpoints = {name: (stage.record.get("checkpoint") or {}).get("sha256") for name, stage in stages.items()}
    latency = load_latency([Path(path) for path in inference], run_dir, checkpoints)
    sources = {row["source"] for row in latency.values()}
    students = [stage for stage in stages.values() if stage.role == "student"]
    best = max((s for s in students if s.val_acc is not None), key=lambda s: s.val_acc, default=None)
    calibrated = ([reference] if reference else []) + students
    report = {
        "run_dir": str(run_dir),
        "split": SPLIT,
        "label_names": names,
        "reference_teacher": reference.name if reference else None,
        "inference": [str(path) for path in inference if str(path) in sources] or None,  # those that counted, in order
        "summary": {name: summary_row(stage, labels, reference, teacher, latency.get(name))
                    | {"size_mb": served_size_mb(run_dir / name, run_dir / "export" / name)}  # as /models gives it
                    for name, stage in stages.items()},
        "left_out": left_out,
        "per_class": {name: per_class_scores(stage, labels, names) for name, stage in stages.items()},
        "confusion": None if best is None else {
            "model": best.name,
            "matrix": evaluation.confusion_matrix(labels, best.probs.argmax(-1), len(names)),
        },
        "reliability": {stage.name: evaluation.reliability(stage.probs, labels) for stage in calibrated},
        "dark_knowledge": [] if reference is None else dark_knowledge(reference, students, corpus),
        "settings": settings(stages, plan),
    }
    return json_safe(report)
