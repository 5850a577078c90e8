"""What a model costs to ship, defined once for /models, the page, the report and the model card.

Two numbers. ``params``: the model's learned numbers (weights and biases), recorded at training
(``distill.nets.size.weights_size`` for a network, the estimator's coefficients for a classic
model) and in each export's manifest. ``size_mb``: the bytes on disk (MiB) of what is served,
``served_files``: an ONNX export's model.onnx, or a checkpoint where there is no current export,
with the preprocessing files (vocabulary, tokenizer); a classic model's pickle, which holds its
vectorizer. Torch-free, so the server can use it.
"""

from __future__ import annotations

import json
from pathlib import Path

from distill.run_folder import is_current, read_record

PREPROCESSING_FILES = ("features.json", "tokenizer.json")


def size_on_disk_mb(*files: Path) -> float:
    """Bytes on disk of these files, in MiB."""
    return sum(Path(file).stat().st_size for file in files) / 2**20


def preprocessing_files(folder: Path) -> list[Path]:
    """The files ``distill.serving.Preprocessing`` loads from ``folder``."""
    return [path for name in PREPROCESSING_FILES if (path := Path(folder) / name).is_file()]


def served_files(stage: Path, export: Path | None = None) -> list[Path]:
    """What a server loads for ``stage``: its ONNX export when current (``export``), else its checkpoint
    or pickle; none when the stage kept no model (logits only)."""
    record = read_record(stage)
    checkpoint = record.get("checkpoint") or {}
    if checkpoint.get("format") == "lightning" and export is not None and is_current(stage, export):
        manifest = json.loads((export / "manifest.json").read_text())
        return [export / manifest["onnx"], *preprocessing_files(export)]
    path = Path(stage) / checkpoint["path"] if checkpoint.get("path") else None
    if path is None or not path.is_file() or record.get("status", "completed") != "completed":
        return []
    if checkpoint.get("format") == "lightning":
        return [path, *preprocessing_files(Path(stage) / record["features"])]
    return [path]


def served_size_mb(stage: Path, export: Path | None = None) -> float | None:
    """``size_mb`` of a stage as served; None when nothing of it is on disk to serve."""
    files = served_files(stage, export)
    return size_on_disk_mb(*files) if files else None
