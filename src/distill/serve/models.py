"""What the server serves: every model of a run, loaded once, each in its fastest runtime.

Networks (the teacher, the students) run in ONNX Runtime from ``<run>/export/<stage>``,
exported on the way when missing or stale (``distill.export``); classic baselines run their
pickled scikit-learn Pipeline; ``students_ensemble`` averages ``bilstm_kd`` and
``logistic_kd`` with the weight ``distill.student_ensemble.fit_weight`` picks on val (0.5
without a val split). A stage with nothing to load (a teacher reused from a logit store, an
ensemble teacher, a failed stage) is skipped with a note saying why. An export folder serves
its ONNX models as they are.

Every model predicts under its own lock: concurrent requests then never run one
scikit-learn pipeline or session at once, and a burst queues per model instead of
oversubscribing the cores.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from distill.data.corpus import Corpus
from distill.errors import UserError
from distill.logit_store import LogitStore
from distill.probability import softmax
from distill.serving import LoadedModel, average, from_checkpoint, from_onnx, from_sklearn
from distill.serving.predictors import stage_record
from distill.student_ensemble import blend, fit_weight

ENSEMBLE, ENSEMBLE_MEMBERS = "students_ensemble", ("bilstm_kd", "logistic_kd")
ROLES = ("teacher", "student", "ensemble", "classic")  # the order of the page's cards
BROWSER_MODEL = "logistic_kd"  # preferred for the page's in-browser copy
Splits = Callable[[], dict[str, Corpus] | None]


@dataclass
class Served:
    """A loaded model with what the page shows about it."""

    model: LoadedModel
    role: str
    test_acc: float | None

    def predict(self, text: str) -> tuple[np.ndarray, float]:
        """Probabilities for one text, and the milliseconds it took (a wait for the model's lock included)."""
        start = time.perf_counter()
        probs = self.model.predict_proba([text])[0]
        return probs, (time.perf_counter() - start) * 1000


@dataclass
class Catalogue:
    """The served models in page order, why others were left out, and the browser's logistic student."""

    models: dict[str, Served]
    notes: list[str]
    browser_model: Path | None


def locked(model: LoadedModel) -> LoadedModel:
    """The same model, one call at a time."""
    lock = threading.Lock()

    def proba(texts: list[str]) -> np.ndarray:
        with lock:
            return model.proba(texts)

    return replace(model, proba=proba)


def stages_of(run: Path) -> list[Path]:
    """The run itself (a train.py run) or its stage folders (a pipeline run)."""
    return [run] if (run / "metrics.json").is_file() else sorted(path.parent for path in run.glob("*/metrics.json"))


def export_name(run: Path, stage: Path) -> str:
    return stage.name if stage != run else stage_record(run)["model"]


def network(run: Path, stage: Path, notes: list[str]) -> LoadedModel:
    """The stage's net in ONNX Runtime (exported when needed), or PyTorch without the export extra."""
    try:
        from distill.export import export_stage, is_current
    except ImportError:
        notes.append(f"{stage.name}: served in PyTorch (pip install -e '.[export]' for ONNX Runtime)")
        return from_checkpoint(stage)
    out = run / "export" / export_name(run, stage)
    if not is_current(stage, out):
        export_stage(stage, out)
        notes.append(f"{stage.name}: exported to {out}")
    return from_onnx(out)


def load_stage(run: Path, stage: Path, record: dict, notes: list[str]) -> LoadedModel:
    """The stage's model; a UserError says why there is none."""
    if record.get("status", "completed") != "completed":
        raise UserError(f"its run did not complete (status {record.get('status')})")
    kind = (record.get("checkpoint") or {}).get("format")
    if kind == "sklearn":
        return from_sklearn(stage)
    if kind == "lightning":
        return network(run, stage, notes)
    reused = f", reused from {record['reused']}" if record.get("reused") else ""
    raise UserError(f"no model, only logits{reused}")


def students_ensemble(run: Path, models: dict[str, Served], splits: Splits) -> tuple[Served, str]:
    """bilstm_kd and logistic_kd averaged: the weight fitted on val when the run's data loads, else 0.5."""
    members = [models[name].model for name in ENSEMBLE_MEMBERS]
    corpora = splits()
    stores = [run / name / "logits.npz" for name in ENSEMBLE_MEMBERS]
    if corpora is None or not all(store.is_file() for store in stores):
        return Served(average(ENSEMBLE, members, [0.5, 0.5]), "ensemble", None), "weight 0.5 (no val split at hand)"
    logits = [LogitStore.load(store) for store in stores]
    val, test = corpora["val"], corpora["test"]
    weight = fit_weight(*(softmax(store.aligned("val", val.ids)) for store in logits), val.labels)
    test_probs = blend(*(softmax(store.aligned("test", test.ids)) for store in logits), weight)
    test_acc = float(np.mean(test_probs.argmax(1) == test.labels))
    served = Served(average(ENSEMBLE, members, [weight, 1.0 - weight]), "ensemble", test_acc)
    return served, f"weight {weight:.1f} on {ENSEMBLE_MEMBERS[0]}, fitted on val"


def browser_model(run: Path, models: dict[str, Served]) -> Path | None:
    """The JSON of a served logistic student (``logistic_kd`` first), exported when missing or stale."""
    from distill.web_export import export_web, is_current_web, is_tfidf_student

    stages = [stage for stage in stages_of(run) if export_name(run, stage) in models and is_tfidf_student(stage)]
    if not stages:
        return None
    stage = min(stages, key=lambda stage: export_name(run, stage) != BROWSER_MODEL)
    path = run / "export" / "web" / f"{export_name(run, stage)}.json"
    if not is_current_web(stage, path):
        export_web(stage, path)
    return path


def ordered(models: dict[str, Served]) -> dict[str, Served]:
    return dict(sorted(models.items(), key=lambda item: (ROLES.index(item[1].role), item[0])))


def load_run(run: Path, splits: Splits) -> Catalogue:
    """Every stage's model; ``splits()`` (called only when both ensemble members load) gives val and test."""
    models: dict[str, Served] = {}
    notes: list[str] = []
    for stage in stages_of(run):
        record = stage_record(stage)
        try:
            model = load_stage(run, stage, record, notes)
        except UserError as reason:
            notes.append(f"{stage.name}: skipped, {reason}")
            continue
        models[export_name(run, stage)] = Served(locked(model), record["role"],
                                                 record.get("metrics", {}).get("test/acc"))
    if all(name in models for name in ENSEMBLE_MEMBERS):
        models[ENSEMBLE], note = students_ensemble(run, models, splits)
        notes.append(f"{ENSEMBLE}: {note}")
    return Catalogue(ordered(models), notes, browser_model(run, models))


def load_exports(folder: Path) -> Catalogue:
    """The ONNX exports in ``folder`` (one export, or ``<run>/export``) and its web JSON, if any."""
    folders = [folder] if (folder / "manifest.json").is_file() else sorted(
        path.parent for path in folder.glob("*/manifest.json"))
    models: dict[str, Served] = {}
    for export in folders:
        manifest = json.loads((export / "manifest.json").read_text())
        record = export.parent.parent / manifest["stage"] / "metrics.json"  # <run>/export/<stage> -> <run>/<stage>
        test_acc = json.loads(record.read_text()).get("metrics", {}).get("test/acc") if record.is_file() else None
        models[export.name] = Served(locked(from_onnx(export)), manifest["role"], test_acc)
    notes = []
    if all(name in models for name in ENSEMBLE_MEMBERS):
        models[ENSEMBLE], note = students_ensemble(folder, models, lambda: None)
        notes.append(f"{ENSEMBLE}: {note}")
    web = sorted((folder / "web").glob("*.json"), key=lambda path: path.stem != BROWSER_MODEL)
    return Catalogue(ordered(models), notes, web[0] if web else None)


def load_folder(folder: str | Path, splits: Splits = lambda: None) -> Catalogue:
    """A pipeline run, a train.py run, or an export folder; an error says what to give instead."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"{folder} is not a folder: give a pipeline run folder (logs/pipeline/<time>) "
                        "or an export folder (<run>/export)")
    if stages_of(folder):
        catalogue = load_run(folder, splits)
    elif (folder / "manifest.json").is_file() or any(folder.glob("*/manifest.json")):
        catalogue = load_exports(folder)
    else:
        raise UserError(f"{folder} holds no run (no */metrics.json) and no export (no manifest.json): give a "
                        "pipeline run folder (logs/pipeline/<time>) or an export folder (<run>/export)")
    if not catalogue.models:
        raise UserError(f"{folder} has no model to serve ({'; '.join(catalogue.notes)}): a committed run keeps "
                        "logits only; serve the folder of a pipeline.py run, e.g. logs/pipeline/<time>")
    return catalogue
