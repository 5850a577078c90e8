"""One text through the requested models, each compared with the teacher's answer.

Cosine and KL(teacher || model) are those of the report (``distill.evaluation``), on one
text: how much of the teacher's belief a model keeps, not just its top class. The summary
names the fastest model whose top-1 is the teacher's, and how much faster it answered.
"""

from __future__ import annotations

import numpy as np

from distill.evaluation import mean_cosine, mean_kl
from distill.run_folder import SINGLE_TEACHER_ROLES
from distill.web.models import Served

TOP = 5


def result(name: str, served: Served, probs: np.ndarray, latency_ms: float, text: str,
           teacher: np.ndarray | None) -> dict:
    """What the page shows for one model."""
    labels = served.model.labels
    top = np.argsort(-probs, kind="stable")[:TOP]
    comparison = None if teacher is None else {
        "cosine": mean_cosine(teacher[None], probs[None]),
        "kl": mean_kl(teacher[None], probs[None]),
        "agrees": bool(teacher.argmax() == probs.argmax()),
    }
    return {
        "model": name,
        "role": served.role,
        "runtime": served.model.runtime,
        "label": labels[int(top[0])],
        "top": [{"label": labels[int(index)], "prob": float(probs[index])} for index in top],
        "latency_ms": latency_ms,
        "truncated": served.model.truncated(text),
        "max_length": served.model.max_length,
        "vs_teacher": comparison,
    }


def summary(results: list[dict], teacher: dict | None) -> dict | None:
    """The fastest model that agrees with the teacher, and its speed-up over the teacher on this text."""
    agreeing = [row for row in results if row["vs_teacher"] and row["vs_teacher"]["agrees"]]
    if teacher is None or not agreeing:
        return None
    fastest = min(agreeing, key=lambda row: row["latency_ms"])
    return {"model": fastest["model"], "latency_ms": fastest["latency_ms"],
            "teacher_latency_ms": teacher["latency_ms"],
            "speedup": teacher["latency_ms"] / max(fastest["latency_ms"], 1e-6)}


def predict_all(models: dict[str, Served], names: list[str], text: str) -> dict:
    """Every model in ``names`` on ``text``; comparisons only when the teacher is among them."""
    outputs = {name: models[name].predict(text) for name in names}
    teacher = next((name for name in names if models[name].role in SINGLE_TEACHER_ROLES), None)
    reference = outputs[teacher][0] if teacher else None
    results = [result(name, models[name], *outputs[name], text, None if name == teacher else reference)
               for name in names]
    teacher_row = next((row for row in results if row["model"] == teacher), None)
    return {"teacher": teacher, "text_bytes": len(text.encode("utf-8")), "results": results,
            "summary": summary(results, teacher_row)}
