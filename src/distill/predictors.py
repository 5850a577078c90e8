"""A benchmarked model as one callable, raw texts in, class probabilities out, in one runtime.

Each runtime's loader imports only its own stack (torch, onnxruntime or scikit-learn), so a
process that loads one model holds that stack's memory alone. PyTorch and ONNX Runtime get
their inputs from the same exported preprocessing (``features/``: ``tokenizer.json`` or the
TF-IDF vocabulary and idf, see ``distill.onnx_predict``), so their records differ only in
the runtime that executes the network. A member is described by a plain dict (a JSON spec
written by ``benchmarks/inference.py``):

* ``{"runtime": "pytorch", "module": "BiLSTMModule", "checkpoint": ..., "features": ...}``;
  ``"init": {...}`` instead of ``"checkpoint"`` builds an untrained module (speed only).
* ``{"runtime": "onnxruntime", "onnx": ..., "features": ...}``
* ``{"runtime": "sklearn", "pickle": ...}``: the classic baselines' fitted Pipeline.
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from distill.onnx_predict import TfidfTransform, WordPieceTransform

if TYPE_CHECKING:
    import torch

Proba = Callable[[list[str]], np.ndarray]


@dataclass(frozen=True)
class Predictor:
    """``proba(texts)`` plus what the model costs to ship.

    ``params`` is None where the runtime cannot say (an ONNX graph): the network is the
    PyTorch one, so the caller takes its count from there.
    """

    proba: Proba
    params: int | None
    weights_mb: float
    size_mb: float  # everything loaded from disk: weights or model file, plus preprocessing


def softmax(logits: np.ndarray) -> np.ndarray:
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


def megabytes(*paths: Path) -> float:
    """Bytes on disk of these files, and of every file in these folders."""
    files = [file for path in paths for file in ([path] if path.is_file() else sorted(path.iterdir()))]
    return sum(file.stat().st_size for file in files) / 2**20


def transform_of(features: Path) -> TfidfTransform | WordPieceTransform:
    """The exported preprocessing in ``features`` (a stage's ``features/`` or an export folder)."""
    spec = json.loads((features / "features.json").read_text())
    return TfidfTransform(spec) if spec["kind"] == "tfidf" else WordPieceTransform(spec, features / "tokenizer.json")


def preprocessing_files(features: Path) -> list[Path]:
    return [path for name in ("features.json", "tokenizer.json") if (path := features / name).is_file()]


def build_net(member: dict) -> torch.nn.Module:
    """A pytorch member's network, fp32 in eval mode: from its checkpoint, or untrained from ``init``."""
    import torch

    from distill import models

    module_class = getattr(models, member["module"])
    if "checkpoint" in member:
        module = module_class.load_from_checkpoint(member["checkpoint"], map_location="cpu")
    else:
        torch.manual_seed(0)  # the same untrained head in every process that builds it
        module = module_class(**member["init"])
    return module.net.float().eval()


def load_pytorch(member: dict, threads: int) -> Predictor:
    """Eager PyTorch: the LightningModule's network under ``inference_mode``."""
    import torch

    from distill.models.size import weights_size

    torch.set_num_threads(threads)
    net = build_net(member)
    transform = transform_of(Path(member["features"]))

    def proba(texts: list[str]) -> np.ndarray:
        inputs = {name: torch.from_numpy(array) for name, array in transform(texts).items()}
        with torch.inference_mode():
            return torch.softmax(net(**inputs), dim=-1).numpy()

    size = weights_size(net)
    extra = megabytes(*preprocessing_files(Path(member["features"])))
    return Predictor(proba, int(size["params"]), size["weights_mb"], size["weights_mb"] + extra)


def load_onnx(member: dict, threads: int) -> Predictor:
    """ONNX Runtime on CPU with a fixed intra-op thread count and no inter-op parallelism."""
    import onnxruntime

    from distill.onnx_predict import OnnxClassifier

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    path, features = Path(member["onnx"]), Path(member["features"])
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    labels = json.loads((features / "features.json").read_text())["labels"]
    model = OnnxClassifier(session, transform_of(features), labels)
    model_mb = megabytes(path)
    return Predictor(lambda texts: model.predict_proba(texts, len(texts)), None, model_mb,
                     model_mb + megabytes(*preprocessing_files(features)))


def load_sklearn(member: dict, threads: int) -> Predictor:
    """The pickled Pipeline (its TF-IDF vectorizer included); threads are set by the caller's env."""
    path = Path(member["pickle"])
    model = pickle.loads(path.read_bytes())
    estimator = model.named_steps["estimator"]
    weights = np.asarray(getattr(estimator, "coef_", getattr(estimator, "feature_log_prob_", None)))
    intercept = np.asarray(getattr(estimator, "intercept_", []))

    def proba(texts: list[str]) -> np.ndarray:
        if hasattr(model, "predict_proba"):
            return model.predict_proba(texts)
        return softmax(model.decision_function(texts))  # SVMs: scores, same argmax

    return Predictor(proba, int(weights.size + intercept.size), (weights.nbytes + intercept.nbytes) / 2**20,
                     megabytes(path))


LOADERS = {"pytorch": load_pytorch, "onnxruntime": load_onnx, "sklearn": load_sklearn}


def load_predictor(members: list[dict], weights: list[float], threads: int) -> Predictor:
    """One member, or the ``weights``-weighted average of several members' probabilities."""
    loaded = [LOADERS[member["runtime"]](member, threads) for member in members]
    if len(loaded) == 1:
        return loaded[0]

    def proba(texts: list[str]) -> np.ndarray:
        return sum(weight * member.proba(texts) for weight, member in zip(weights, loaded))

    params = None if any(member.params is None for member in loaded) else sum(m.params for m in loaded)
    return Predictor(proba, params, sum(m.weights_mb for m in loaded), sum(m.size_mb for m in loaded))
