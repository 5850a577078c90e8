"""Load any trained model as a ``Predictor``: raw texts in, class probabilities out.

Three loaders, one per runtime, each importing only its own stack, so a process that
serves one model holds that stack's memory alone:

* ``from_checkpoint(stage)``: a Lightning checkpoint run in eager PyTorch;
* ``from_onnx(folder)``: an export of ``python -m distill.export``, in ONNX Runtime;
* ``from_sklearn(stage)``: a classic baseline's pickled scikit-learn Pipeline.

A stage folder's ``metrics.json`` says which artefact it holds (``checkpoint.format``) and
where (relative to the stage); ``load`` picks the loader from what a folder holds. Every
loader cleans raw text the way training did (``features.json`` or ``metrics.json`` records
the cleaning), so a raw Usenet message gets the prediction training would give.
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

import numpy as np

from distill.errors import UserError
from distill.probability import softmax
from distill.run_folder import artefact, read_record
from distill.preprocessing import Preprocessing, clean
from distill.serving.size import size_on_disk_mb
from distill.student_ensemble import blend, undecided

RUNTIMES = ("pytorch", "onnxruntime", "sklearn")


class Predictor(Protocol):
    """What every loaded model offers."""

    name: str
    runtime: str
    labels: list[str]

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), classes) probabilities for raw texts."""


@dataclass
class LoadedModel:
    """A model ready to predict, and what it costs to ship.

    ``params`` and ``size_mb`` are as ``distill.serving.size`` defines them (``params`` is None
    for an ONNX export older than its manifest's ``params``).
    """

    name: str
    runtime: str
    labels: list[str]
    proba: Callable[[list[str]], np.ndarray]
    params: int | None
    weights_mb: float
    size_mb: float
    max_length: int | None = None
    truncated: Callable[[str], bool] = field(default=lambda text: False)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        return self.proba(list(texts))

    def predict(self, texts: Sequence[str]) -> list[str]:
        return [self.labels[index] for index in self.predict_proba(texts).argmax(axis=1)]




def from_checkpoint(stage: str | Path, threads: int | None = None) -> LoadedModel:
    """Eager PyTorch: the stage's best checkpoint, float32, eval mode, under ``inference_mode``."""
    import torch

    from distill.nets.checkpoint import load_net
    from distill.nets.size import weights_size

    stage = Path(stage)
    record = read_record(stage)
    if threads:
        torch.set_num_threads(threads)
    checkpoint = artefact(stage, record)
    net = load_net(checkpoint)
    preprocessing = Preprocessing(stage / record["features"])

    def proba(texts: list[str]) -> np.ndarray:
        inputs = {name: torch.from_numpy(array) for name, array in preprocessing(texts).items()}
        with torch.inference_mode():
            return softmax(net(**inputs).numpy())

    size = weights_size(net)
    return LoadedModel(record["model"], "pytorch", preprocessing.labels, proba, int(size["params"]),
                       size["weights_mb"], size_on_disk_mb(checkpoint, *preprocessing.files),
                       preprocessing.max_length, _truncated(preprocessing))


def from_onnx(folder: str | Path, threads: int | None = None) -> LoadedModel:
    """ONNX Runtime on CPU; ``threads`` intra-op threads and no inter-op parallelism."""
    import onnxruntime

    folder = Path(folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    options = onnxruntime.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    path = folder / manifest["onnx"]
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    preprocessing = Preprocessing(folder)

    def proba(texts: list[str]) -> np.ndarray:
        return softmax(session.run(["logits"], preprocessing(texts))[0])

    return LoadedModel(manifest["model"], "onnxruntime", preprocessing.labels, proba, manifest.get("params"),
                       size_on_disk_mb(path), size_on_disk_mb(path, *preprocessing.files), preprocessing.max_length,
                       _truncated(preprocessing))


def from_sklearn(stage: str | Path, threads: int | None = None) -> LoadedModel:
    """The pickled Pipeline (its TF-IDF vectorizer included); threads are set by the caller's env."""
    stage = Path(stage)
    record = read_record(stage)
    path = artefact(stage, record)
    model = pickle.loads(path.read_bytes())
    estimator = model.named_steps["estimator"]
    weights = np.asarray(getattr(estimator, "coef_", getattr(estimator, "feature_log_prob_", None)))
    intercept = np.asarray(getattr(estimator, "intercept_", []))
    cleaning = record.get("cleaning", {})

    def proba(texts: list[str]) -> np.ndarray:
        texts = clean(texts, cleaning)
        if hasattr(model, "predict_proba"):
            return model.predict_proba(texts)
        return softmax(model.decision_function(texts))  # SVMs: scores, same argmax

    return LoadedModel(record["model"], "sklearn", record["labels"], proba, int(weights.size + intercept.size),
                       (weights.nbytes + intercept.nbytes) / 2**20, size_on_disk_mb(path))


def average(name: str, members: list[LoadedModel], weights: list[float]) -> LoadedModel:
    """The ``weights``-weighted average of several models' probabilities."""

    def proba(texts: list[str]) -> np.ndarray:
        return sum(weight * member.predict_proba(texts) for weight, member in zip(weights, members))

    params = None if any(member.params is None for member in members) else sum(m.params for m in members)
    runtimes = sorted({member.runtime for member in members})
    return LoadedModel(name, "+".join(runtimes), members[0].labels, proba, params,
                       sum(m.weights_mb for m in members), sum(m.size_mb for m in members),
                       max((m.max_length for m in members if m.max_length), default=None),
                       lambda text: any(m.truncated(text) for m in members))


def cascade(name: str, first: LoadedModel, second: LoadedModel, weight: float) -> LoadedModel:
    """``average`` of ``[first, second]`` at ``[weight, 1 - weight]`` for the top class, at less cost:
    ``second`` reads every text, ``first`` only those whose top class it could change
    (``distill.student_ensemble.undecided``). Every text gets the average's top class; the
    probabilities of the texts ``first`` skipped are ``second``'s own, not the average's."""

    def proba(texts: list[str]) -> np.ndarray:
        probs = np.array(second.predict_proba(texts))  # a copy: rows are overwritten
        rows = np.flatnonzero(undecided(probs, weight))
        if rows.size:
            probs[rows] = blend(first.predict_proba([texts[row] for row in rows]), probs[rows], weight)
        return probs

    return replace(average(name, [first, second], [weight, 1.0 - weight]), proba=proba)


def _truncated(preprocessing: Preprocessing) -> Callable[[str], bool]:
    return lambda text: preprocessing.transform.truncated(preprocessing.clean([text])[0])


def load(path: str | Path, runtime: str | None = None, threads: int | None = None) -> LoadedModel:
    """The model in ``path``: an export folder (ONNX) or a stage folder (its checkpoint or pickle).

    ``runtime`` forces one; a stage folder's checkpoint loads in PyTorch.
    """
    path = Path(path)
    if runtime not in (None, *RUNTIMES):
        raise UserError(f"runtime={runtime!r} is not one of {RUNTIMES}")
    if (path / "manifest.json").is_file() and runtime in (None, "onnxruntime"):
        return from_onnx(path, threads)
    record = read_record(path)
    formats = {"lightning": (from_checkpoint, "pytorch"), "sklearn": (from_sklearn, "sklearn")}
    kind = (record.get("checkpoint") or {}).get("format")
    if kind not in formats:
        raise UserError(f"{path}: its run saved no model to serve (only logits)")
    loader, native = formats[kind]
    if runtime not in (None, native):
        raise UserError(f"{path} holds a {kind} model, which runs in {native}, not {runtime}: "
                        "for ONNX Runtime give its export folder (python -m distill.export <run>)")
    return loader(path, threads)
