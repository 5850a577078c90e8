"""Scores that compare a model's probabilities with the labels and with its teacher's.

Pure numpy on arrays already aligned row for row (callers align by example id), so the
report can score any model from its cached logits, whatever produced them.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import confusion_matrix as _sk_confusion
from sklearn.metrics import f1_score, precision_recall_fscore_support

ECE_BINS = 15
_EPS = 1e-12  # floor for log(q): a model that gives a teacher's class probability 0 scores a large, finite KL


def split_scores(
    stage: str, logits: np.ndarray, labels: np.ndarray, teacher_logits: np.ndarray | None = None
) -> dict[str, float]:
    """``{stage}/acc``, ``{stage}/f1_macro`` and, given the teacher's logits, ``{stage}/agreement``:
    the names the LightningModules log, so models scored from logits share their tables.

    As there, acc and F1 count only rows with a hard label (label -1 has none, and would count
    as an error), and are left out when no row has one; agreement covers every row.
    """
    predicted = np.asarray(logits).argmax(-1)
    labelled = np.asarray(labels) >= 0
    scores = {}
    if labelled.any():
        truth, guess = np.asarray(labels)[labelled], predicted[labelled]
        scores[f"{stage}/acc"] = float(np.mean(guess == truth))
        scores[f"{stage}/f1_macro"] = float(f1_score(truth, guess, average="macro", zero_division=0))
    if teacher_logits is not None:
        scores[f"{stage}/agreement"] = agreement(logits, teacher_logits)
    return scores


def _bin_of(confidence: np.ndarray, bins: int) -> np.ndarray:
    """Equal-width bins over (0, 1]: bin b holds confidences in (b/bins, (b+1)/bins]."""
    return np.clip(np.ceil(confidence * bins).astype(int) - 1, 0, bins - 1)


def reliability(probs: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> dict[str, np.ndarray]:
    """Per confidence bin: mean top-1 confidence, top-1 accuracy and count (NaN where empty)."""
    confidence = probs.max(-1)
    correct = (probs.argmax(-1) == labels).astype(np.float64)
    index = _bin_of(confidence, bins)
    count = np.bincount(index, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_confidence = np.bincount(index, confidence, minlength=bins) / count
        accuracy = np.bincount(index, correct, minlength=bins) / count
    edges = np.linspace(0.0, 1.0, bins + 1)
    return {"edges": edges, "confidence": mean_confidence, "accuracy": accuracy, "count": count}


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> float:
    """Sum over bins of (bin share) * |accuracy - mean confidence|, on the top-1 prediction."""
    curve = reliability(probs, labels, bins)
    filled = curve["count"] > 0
    gaps = np.abs(curve["accuracy"][filled] - curve["confidence"][filled])
    return float(np.sum(curve["count"][filled] * gaps) / len(labels))


def mean_kl(teacher: np.ndarray, model: np.ndarray) -> float:
    """Mean KL(teacher || model) in nats: what the model loses of the teacher's distribution."""
    log_teacher = np.log(np.where(teacher > 0, teacher, 1.0))  # 0 * log 0 counts as 0
    terms = teacher * (log_teacher - np.log(np.maximum(model, _EPS)))
    return float(np.maximum(terms.sum(-1), 0.0).mean())  # KL >= 0: float noise must not print as -0.0000


def mean_cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Mean cosine similarity of paired probability vectors (1 = same shape of belief)."""
    dot = np.sum(a * b, -1)
    return float(np.mean(dot / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))))


def agreement(a: np.ndarray, b: np.ndarray) -> float:
    """Share of rows whose top-1 class is the same (works on logits or probabilities)."""
    return float(np.mean(a.argmax(-1) == b.argmax(-1)))


def per_class(labels: np.ndarray, predicted: np.ndarray, n_classes: int) -> dict[str, np.ndarray]:
    """Precision, recall, F1 and support for every class, in class order (0 where undefined)."""
    precision, recall, f1, support = precision_recall_fscore_support(
        labels, predicted, labels=np.arange(n_classes), zero_division=0
    )
    return {"precision": precision, "recall": recall, "f1": f1, "support": support}


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts with true classes as rows and predicted classes as columns, every class present."""
    return _sk_confusion(labels, predicted, labels=np.arange(n_classes))
