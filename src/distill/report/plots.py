"""The report's figures, drawn from the numbers in ``report.json`` (nothing recomputed here)."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np

from distill import atomic

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def _save(figure: plt.Figure, path: Path) -> None:
    figure.tight_layout()
    with atomic.atomic_path(path) as temporary:
        figure.savefig(temporary, format="png", dpi=120)
    plt.close(figure)


def accuracy_vs_latency(report: dict, path: Path) -> str:
    """Test accuracy against latency (log scale); against parameters when no latency was measured."""
    rows = report["summary"]
    axis = "latency_ms" if any(row["latency_ms"] is not None for row in rows.values()) else "params"
    points = {name: (row[axis], row["test_acc"]) for name, row in rows.items()
              if row[axis] is not None and row["test_acc"] is not None}
    figure, axes = plt.subplots(figsize=(7, 4.5))
    for name, (x, y) in points.items():
        axes.scatter(x, y)
        axes.annotate(name, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
    axes.set_xscale("log")
    axes.margins(x=0.15)  # room for the labels of the outermost points
    axes.set_xlabel("latency, ms per document (batch 1, p50)" if axis == "latency_ms" else "parameters")
    axes.set_ylabel(f"{report['split']} accuracy")
    title = "accuracy vs latency" if axis == "latency_ms" else "accuracy vs parameters (no latency measured)"
    axes.set_title(title)
    _save(figure, path)
    return title


def confusion(report: dict, path: Path) -> str:
    confusion, names = report["confusion"], report["label_names"]
    matrix = np.array(confusion["matrix"])
    figure, axes = plt.subplots(figsize=(0.45 * len(names) + 3, 0.45 * len(names) + 2.5))
    image = axes.imshow(matrix, cmap="Blues")
    axes.set_xticks(range(len(names)), names, rotation=90, fontsize=7)
    axes.set_yticks(range(len(names)), names, fontsize=7)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    for (i, j), count in np.ndenumerate(matrix):
        if count:
            axes.text(j, i, str(count), ha="center", va="center", fontsize=6,
                      color="white" if count > matrix.max() / 2 else "black")
    figure.colorbar(image)
    title = f"confusion matrix of the best student, {confusion['model']}"
    axes.set_title(title, fontsize=9)
    _save(figure, path)
    return title


def reliability(report: dict, path: Path) -> str:
    figure, axes = plt.subplots(figsize=(5.5, 5))
    axes.plot([0, 1], [0, 1], "k--", linewidth=1, label="perfectly calibrated")
    for name, curve in report["reliability"].items():
        filled = [(c, a) for c, a in zip(curve["confidence"], curve["accuracy"]) if c is not None]
        ece = report["summary"][name]["ece"]
        axes.plot(*zip(*filled), marker="o", label=f"{name} (ECE {ece:.3f})")
    axes.set_xlabel("mean top-1 confidence")
    axes.set_ylabel("accuracy")
    axes.legend(fontsize=7)
    title = "reliability diagram"
    axes.set_title(title)
    _save(figure, path)
    return title
