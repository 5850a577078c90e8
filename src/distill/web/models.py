"""What the server serves: every model of a run, loaded once, each in its fastest runtime.

Two steps. ``prepare`` does the start-up work that needs PyTorch and the corpus: it exports
each network to ONNX (``<run>/export/<stage>``) and the logistic student for the browser
(``<run>/export/web/<stage>.json``) when missing or stale, and fits the weight of
``students_ensemble`` (a distilled BiLSTM and logistic student averaged: the pair and weight
best on val, ``distill.student_ensemble.choose_pair``, each member served as its refit on train and val where
the run has one, ``distill.final_fit``). The command line runs it in a child process, so the
server never holds PyTorch (about 370 MiB). ``load_folder`` then loads networks in ONNX
Runtime, classic baselines from their pickled scikit-learn Pipeline, and the ensemble (the first
pair served, weight 0.5, when none was fitted). A stage with nothing to load (a teacher reused from a logit store,
an ensemble teacher, a failed stage) is skipped with a note saying why; a network without a
current export runs in PyTorch. An export folder is served as it is.

Every model predicts under its own lock: concurrent requests then never run one
scikit-learn pipeline or session at once, and a burst queues per model instead of
oversubscribing the cores.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from distill.data.corpus import Corpus
from distill.errors import UserError
from distill.final_fit import final_fit
from distill.logit_store import LogitStore
from distill.probability import softmax
from distill.serving import LoadedModel, average, from_checkpoint, from_onnx, from_sklearn
from distill.serving.predictors import is_current, stage_record
from distill.student_ensemble import PAIRS, blend, choose_pair
from distill.web_export import export_web, is_current_web, is_tfidf_student

ENSEMBLE = "students_ensemble"
ROLES = ("teacher", "student", "ensemble", "classic")  # the order of the page's cards
BROWSER_MODEL = "logistic_kd"  # preferred for the page's in-browser copy
Splits = Callable[[], dict[str, Corpus] | None]


@dataclass
class Served:
    """A loaded model with what the page shows about it, and the lock it predicts under."""

    model: LoadedModel
    role: str
    test_acc: float | None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def predict(self, text: str) -> tuple[np.ndarray, float]:
        """Probabilities for one text, and the milliseconds the model took (a wait for its lock not counted)."""
        with self.lock:
            start = time.perf_counter()
            probs = self.model.predict_proba([text])[0]
            return probs, (time.perf_counter() - start) * 1000


@dataclass
class Catalogue:
    """The served models in page order, why others were left out, and the browser's logistic student."""

    models: dict[str, Served]
    notes: list[str]
    browser_model: Path | None


@dataclass
class Prepared:
    """What ``prepare`` did: notes to print, and the ensemble's members, fitted weight and test accuracy."""

    notes: list[str] = field(default_factory=list)
    ensemble_members: tuple[str, str] | None = None
    ensemble_weight: float | None = None
    ensemble_test_acc: float | None = None


def stages_of(run: Path) -> list[Path]:
    """The run itself (a train.py run) or its stage folders (a pipeline run)."""
    return [run] if (run / "metrics.json").is_file() else sorted(path.parent for path in run.glob("*/metrics.json"))


def export_name(run: Path, stage: Path) -> str:
    return stage.name if stage != run else stage_record(run)["model"]


def has_network(stage: Path) -> bool:
    record = stage_record(stage)
    checkpoint = record.get("checkpoint") or {}
    return (record.get("status", "completed") == "completed" and checkpoint.get("format") == "lightning"
            and (stage / checkpoint["path"]).is_file())


def browser_stage(run: Path, stages: list[Path]) -> Path | None:
    """The logistic student the page runs in the browser: ``logistic_kd`` first."""
    candidates = [stage for stage in stages if has_network(stage) and is_tfidf_student(stage)]
    return min(candidates, key=lambda stage: export_name(run, stage) != BROWSER_MODEL, default=None)


def fitted_ensemble(run: Path, names: set[str], corpora: dict[str, Corpus]) -> tuple[tuple[str, str], float, float] | None:
    """The members and weight chosen on val among the served pairs, and the blend's test accuracy; each member
    is then served as its final fit (``distill.final_fit``: its refit on train and val, where the run has one)."""
    val, test = corpora["val"], corpora["test"]
    stores = {name: LogitStore.load(run / name / "logits.npz") for pair in PAIRS for name in pair if name in names}
    chosen = choose_pair({name: softmax(store.aligned("val", val.ids)) for name, store in stores.items()}, val.labels)
    if chosen is None:
        return None
    pair, weight = chosen
    served = tuple(final_fit(name, names) for name in pair)
    stores |= {name: LogitStore.load(run / name / "logits.npz") for name in served if name not in stores}
    test_probs = blend(*(softmax(stores[name].aligned("test", test.ids)) for name in served), weight)
    return served, weight, float(np.mean(test_probs.argmax(1) == test.labels))


def prepare(folder: str | Path, splits: Splits) -> Prepared:
    """Export what is missing or stale and fit the ensemble weight (``splits()`` gives val and test)."""
    run, prepared = Path(folder), Prepared()
    stages = [stage for stage in stages_of(run) if has_network(stage)]
    stale = [stage for stage in stages if not is_current(stage, run / "export" / export_name(run, stage))]
    if stale:
        try:
            from distill.export import export_stage
        except ImportError:
            prepared.notes.append("no ONNX export (pip install -e '.[export]'): networks run in PyTorch")
            stale = []
        for stage in stale:
            export_stage(stage, run / "export" / export_name(run, stage))
            prepared.notes.append(f"{stage.name}: exported to {run / 'export' / export_name(run, stage)}")
    if (stage := browser_stage(run, stages)) is not None:
        path = run / "export" / "web" / f"{export_name(run, stage)}.json"
        if not is_current_web(stage, path):
            export_web(stage, path)
    names = {export_name(run, stage) for stage in stages}
    if any(set(pair) <= names for pair in PAIRS) and (corpora := splits()) is not None:
        if (fitted := fitted_ensemble(run, names, corpora)) is not None:
            prepared.ensemble_members, prepared.ensemble_weight, prepared.ensemble_test_acc = fitted
    return prepared


def locked(served: Served) -> LoadedModel:
    """The served model behind its lock, for the ensemble to call."""

    def proba(texts: list[str]) -> np.ndarray:
        with served.lock:
            return served.model.proba(texts)

    return replace(served.model, proba=proba)


def load_stage(run: Path, stage: Path, record: dict) -> LoadedModel:
    """The stage's model, ONNX when its export is current; a UserError says why there is none."""
    if record.get("status", "completed") != "completed":
        raise UserError(f"its run did not complete (status {record.get('status')})")
    kind = (record.get("checkpoint") or {}).get("format")
    if kind == "sklearn":
        return from_sklearn(stage)
    if kind == "lightning":
        export = run / "export" / export_name(run, stage)
        return from_onnx(export) if is_current(stage, export) else from_checkpoint(stage)
    reused = f", reused from {record['reused']}" if record.get("reused") else ""
    raise UserError(f"no model, only logits{reused}")


def with_ensemble(models: dict[str, Served], members: tuple[str, str] | None, weight: float | None,
                  test_acc: float | None) -> str | None:
    """Add ``students_ensemble`` when its members are served; the note to print."""
    fitted = members is not None and weight is not None and all(name in models for name in members)
    if not fitted:
        members = next((pair for pair in PAIRS if all(name in models for name in pair)), None)
        if members is None:
            return None
        weight, test_acc = 0.5, None
    served = [locked(models[name]) for name in members]  # its time includes waits for their locks
    models[ENSEMBLE] = Served(average(ENSEMBLE, served, [weight, 1.0 - weight]), "ensemble", test_acc)
    how = "fitted on val" if fitted else "(no weight fitted for these members)"
    return f"{ENSEMBLE}: weight {weight:.1f} on {members[0]} (with {members[1]}) {how}"


def ordered(models: dict[str, Served]) -> dict[str, Served]:
    return dict(sorted(models.items(), key=lambda item: (ROLES.index(item[1].role), item[0])))


def load_run(run: Path, prepared: Prepared) -> Catalogue:
    models: dict[str, Served] = {}
    notes = list(prepared.notes)
    stages = stages_of(run)
    for stage in stages:
        record = stage_record(stage)
        try:
            model = load_stage(run, stage, record)
        except UserError as reason:
            notes.append(f"{stage.name}: skipped, {reason}")
            continue
        if model.runtime == "pytorch":
            notes.append(f"{stage.name}: no current ONNX export, served in PyTorch")
        models[export_name(run, stage)] = Served(model, record["role"], record.get("metrics", {}).get("test/acc"))
    if note := with_ensemble(models, prepared.ensemble_members, prepared.ensemble_weight, prepared.ensemble_test_acc):
        notes.append(note)
    stage = browser_stage(run, stages)
    web = None if stage is None else run / "export" / "web" / f"{export_name(run, stage)}.json"
    return Catalogue(ordered(models), notes, web if stage is not None and is_current_web(stage, web) else None)


def load_exports(folder: Path) -> Catalogue:
    """The ONNX exports in ``folder`` (one export, or ``<run>/export``) and its web JSON, if any."""
    folders = [folder] if (folder / "manifest.json").is_file() else sorted(
        path.parent for path in folder.glob("*/manifest.json"))
    models: dict[str, Served] = {}
    for export in folders:
        manifest = json.loads((export / "manifest.json").read_text())
        record = export.parent.parent / manifest["stage"] / "metrics.json"  # <run>/export/<stage> -> <run>/<stage>
        test_acc = json.loads(record.read_text()).get("metrics", {}).get("test/acc") if record.is_file() else None
        models[export.name] = Served(from_onnx(export), manifest["role"], test_acc)
    note = with_ensemble(models, None, None, None)
    web = sorted((folder / "web").glob("*.json"), key=lambda path: path.stem != BROWSER_MODEL)
    return Catalogue(ordered(models), [note] if note else [], web[0] if web else None)


def load_folder(folder: str | Path, prepared: Prepared | None = None) -> Catalogue:
    """A pipeline run, a train.py run, or an export folder; an error says what to give instead."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"{folder} is not a folder: give a pipeline run folder (logs/pipeline/<time>) "
                        "or an export folder (<run>/export)")
    if stages_of(folder):
        catalogue = load_run(folder, prepared or Prepared())
    elif (folder / "manifest.json").is_file() or any(folder.glob("*/manifest.json")):
        catalogue = load_exports(folder)
    else:
        raise UserError(f"{folder} holds no run (no */metrics.json) and no export (no manifest.json): give a "
                        "pipeline run folder (logs/pipeline/<time>) or an export folder (<run>/export)")
    if not catalogue.models:
        raise UserError(f"{folder} has no model to serve ({'; '.join(catalogue.notes)}): a committed run keeps "
                        "logits only; serve the folder of a pipeline.py run, e.g. logs/pipeline/<time>")
    return catalogue
