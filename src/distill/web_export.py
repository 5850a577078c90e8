"""A logistic (TF-IDF) student as one static JSON file, so a browser can run it with no server.

    python -m distill.export logs/pipeline/<time> --format web   # -> <run>/export/web/<stage>.json

The student is ``softmax(x W + b)`` over a TF-IDF row ``x``. The file holds what
``distill/web/static/tfidf.js`` needs to redo both: the text cleaning, the analyzer settings,
the vocabulary in column order, idf, ``W`` (vocab x classes) and ``b``. Numbers stay float32,
as base64 of little-endian bytes (under half the size of decimal text); the server sends the file
gzipped, about half its size. float16 weights would save a quarter more, but moved
probabilities by up to 5e-5 on the quickstart run: half the 1e-4 the browser copy is held to,
with no bound on another run.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np

from distill.atomic import write_text
from distill.errors import UserError
from distill.logit_store import file_sha256
from distill.run_folder import artefact, read_record

FORMAT = "distill-web-logistic/1"
TOKEN_PATTERN = r"(?u)\b\w\w+\b"  # scikit-learn's default, the one analyzer tfidf.js implements


def is_tfidf_student(stage: Path) -> bool:
    """Whether the stage's model reads TF-IDF features (the logistic students)."""
    features = read_record(stage).get("features")
    spec = Path(stage) / str(features) / "features.json"
    return features is not None and spec.is_file() and json.loads(spec.read_text())["kind"] == "tfidf"


def float32_base64(array: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(array, dtype="<f4").tobytes()).decode("ascii")


def is_current_web(stage: Path, path: Path) -> bool:
    """Whether ``path`` was exported from the stage's present checkpoint."""
    checkpoint = read_record(stage).get("checkpoint") or {}
    return path.is_file() and json.loads(path.read_text()).get("checkpoint_sha256") == checkpoint.get("sha256")


def export_web(stage: Path, path: Path) -> Path:
    """Write the stage's TF-IDF settings and linear weights to ``path`` (atomically)."""
    from distill.nets.checkpoint import load_net

    record = read_record(stage)
    checkpoint = artefact(stage, record)
    net = load_net(checkpoint)
    if not hasattr(net, "linear_weights"):
        raise UserError(f"{stage}: its net {type(net).__name__} is not linear over its features "
                        "(no linear_weights()): --format web exports logistic students only")
    spec = json.loads((stage / record["features"] / "features.json").read_text())
    if spec["token_pattern"] != TOKEN_PATTERN or spec["norm"] not in ("l2", None):
        raise UserError(f"{stage}: TF-IDF with token_pattern {spec['token_pattern']!r} and norm {spec['norm']!r} "
                        f"is not what tfidf.js implements (token_pattern {TOKEN_PATTERN!r}, norm l2)")
    terms = [""] * len(spec["vocabulary"])
    for term, column in spec["vocabulary"].items():
        terms[column] = term
    weight, bias = net.linear_weights()  # (vocab, classes), (classes,)
    document = {
        "format": FORMAT,
        "model": path.stem,  # the name it is served under: the stage's, as for its ONNX export
        "stage": stage.name,
        "checkpoint_sha256": file_sha256(checkpoint),
        "labels": spec["labels"],
        "cleaning": spec.get("cleaning", {}),
        "lowercase": spec["lowercase"],
        "token_pattern": spec["token_pattern"],
        "ngram_range": spec["ngram_range"],
        "sublinear_tf": spec["sublinear_tf"],
        "norm": spec["norm"],
        "shape": list(weight.shape),
        "terms": terms,
        "idf": float32_base64(np.asarray(spec["idf"])),
        "weights": float32_base64(weight),
        "bias": float32_base64(bias),
    }
    write_text(path, json.dumps(document, ensure_ascii=False, separators=(",", ":")))
    return path
