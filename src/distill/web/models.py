"""What the server serves: every model of a run, loaded once, each in its fastest runtime.

Two steps. ``prepare`` does the start-up work that needs PyTorch and the corpus: it exports
each network to ONNX (``<run>/export/<stage>``) and the logistic student for the browser
(``<run>/export/web/<stage>.json``) when missing or stale, and fits the weight of
``students_ensemble`` (two distilled students averaged: of the pairs the stages' records allow
(``stage.blend_with``), the pair and weight best on val, ``distill.student_ensemble.choose_pair``; each
member served as its refit on train and val where the run has one, ``distill.run_folder.final_fit``).
The command line runs it in a child process, so the server never holds PyTorch (about 370 MiB); the
ensemble's fit is recorded beside the exports (``distill.web.ensemble_record``), so a restart on an
unchanged run loads no corpus.
``load_folder`` then loads networks in ONNX Runtime, classic baselines from their pickled scikit-learn
Pipeline, and the ensemble (the first pair served, weight 0.5, when none was fitted). A stage with nothing to load (a teacher reused from a logit store,
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
from distill.logit_store import LogitStore
from distill.probability import softmax
from distill.run_folder import (blend_pairs, browser_first, final_fit, is_current, networks, read_record, stage_name,
                                stages)
from distill.serving import LoadedModel, average, from_checkpoint, from_onnx, from_sklearn
from distill.web.ensemble_record import Fitted, fit_inputs, record_ensemble, recorded_ensemble
from distill.student_ensemble import blend, choose_pair
from distill.web_export import export_web, is_current_web, is_tfidf_student

ENSEMBLE = "students_ensemble"
CARD_ORDER = ("teacher", "student", "ensemble", "classic")  # the page's cards by role; other roles last
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


def browser_stage(run: Path, records: dict[str, dict]) -> str | None:
    """The TF-IDF student the page runs in the browser: one whose record sets ``stage.browser``, else the first."""
    found = networks(run)
    return next(iter(browser_first([name for name in found if is_tfidf_student(found[name])], records)), None)


def fitted_ensemble(run: Path, records: dict[str, dict], corpora: dict[str, Corpus]) -> Fitted | None:
    """The members and weight chosen on val among the pairs ``records`` allow, and the blend's test accuracy;
    each member is then served as its final fit (``distill.run_folder.final_fit``)."""
    val, test = corpora["val"], corpora["test"]
    pairs = blend_pairs(records)
    stores = {name: LogitStore.load(run / name / "logits.npz") for pair in pairs for name in pair}
    chosen = choose_pair({name: softmax(store.aligned("val", val.ids)) for name, store in stores.items()}, val.labels,
                         pairs)
    if chosen is None:
        return None
    pair, weight = chosen
    served = tuple(final_fit(name, records) for name in pair)
    stores |= {name: LogitStore.load(run / name / "logits.npz") for name in served if name not in stores}
    test_probs = blend(*(softmax(stores[name].aligned("test", test.ids)) for name in served), weight)
    return served, weight, float(np.mean(test_probs.argmax(1) == test.labels))


def prepare(folder: str | Path, splits: Splits) -> Prepared:
    """Export what is missing or stale and fit the ensemble weight (``splits()`` gives val and test),
    unless ``distill.web.ensemble_record`` holds a fit from the same stores."""
    run, prepared = Path(folder), Prepared()
    found = networks(run)
    stale = {name: stage for name, stage in found.items() if not is_current(stage, run / "export" / name)}
    if stale:
        try:
            from distill.export import export_stage
        except ImportError:
            prepared.notes.append("no ONNX export (pip install -e '.[export]'): networks run in PyTorch")
            stale = {}
        for name, stage in stale.items():
            export_stage(stage, run / "export" / name)
            prepared.notes.append(f"{stage.name}: exported to {run / 'export' / name}")
    records = {name: read_record(stage) for name, stage in found.items()}
    if (name := browser_stage(run, records)) is not None:
        path = run / "export" / "web" / f"{name}.json"
        if not is_current_web(found[name], path):
            export_web(found[name], path)
    if blend_pairs(records):
        inputs = fit_inputs(run, records)
        fitted = recorded_ensemble(run, inputs)
        if fitted is None and (corpora := splits()) is not None:
            if (fitted := fitted_ensemble(run, records, corpora)) is not None:
                record_ensemble(run, inputs, fitted)
        if fitted is not None:
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
        export = run / "export" / stage_name(run, stage)
        return from_onnx(export) if is_current(stage, export) else from_checkpoint(stage)
    reused = f", reused from {record['reused']}" if record.get("reused") else ""
    raise UserError(f"no model, only logits{reused}")


def with_ensemble(models: dict[str, Served], pairs: list[tuple[str, str]], prepared: Prepared) -> str | None:
    """Add ``students_ensemble`` when its members are served (else the first of ``pairs`` served); the note to print."""
    members, weight, test_acc = prepared.ensemble_members, prepared.ensemble_weight, prepared.ensemble_test_acc
    fitted = members is not None and weight is not None and all(name in models for name in members)
    if not fitted:
        members = next((pair for pair in pairs if all(name in models for name in pair)), None)
        if members is None:
            return None
        weight, test_acc = 0.5, None
    served = [locked(models[name]) for name in members]  # its time includes waits for their locks
    models[ENSEMBLE] = Served(average(ENSEMBLE, served, [weight, 1.0 - weight]), "ensemble", test_acc)
    how = "fitted on val" if fitted else "(no weight fitted for these members)"
    return f"{ENSEMBLE}: weight {weight:.1f} on {members[0]} (with {members[1]}) {how}"


def ordered(models: dict[str, Served]) -> dict[str, Served]:
    rank = {role: position for position, role in enumerate(CARD_ORDER)}
    return dict(sorted(models.items(), key=lambda item: (rank.get(item[1].role, len(rank)), item[0])))


def load_run(run: Path, prepared: Prepared) -> Catalogue:
    models: dict[str, Served] = {}
    notes = list(prepared.notes)
    records: dict[str, dict] = {}  # of the stages served
    for stage in stages(run):
        record = read_record(stage)
        try:
            model = load_stage(run, stage, record)
        except UserError as reason:
            notes.append(f"{stage.name}: skipped, {reason}")
            continue
        if model.runtime == "pytorch":
            notes.append(f"{stage.name}: no current ONNX export, served in PyTorch")
        name = stage_name(run, stage)
        models[name], records[name] = Served(model, record["role"], record.get("metrics", {}).get("test/acc")), record
    if note := with_ensemble(models, blend_pairs(records), prepared):
        notes.append(note)
    name = browser_stage(run, records)
    web = None if name is None else run / "export" / "web" / f"{name}.json"
    current = name is not None and is_current_web(networks(run)[name], web)
    return Catalogue(ordered(models), notes, web if current else None)


def load_exports(folder: Path) -> Catalogue:
    """The ONNX exports in ``folder`` (one export, or ``<run>/export``) and its web JSON, if any."""
    folders = [folder] if (folder / "manifest.json").is_file() else sorted(
        path.parent for path in folder.glob("*/manifest.json"))
    models: dict[str, Served] = {}
    records: dict[str, dict] = {}  # of the stages exported, where their run folder is still beside the export
    for export in folders:
        manifest = json.loads((export / "manifest.json").read_text())
        stage = export.parent.parent / manifest["stage"]  # <run>/export/<stage> -> <run>/<stage>
        records[export.name] = read_record(stage) if (stage / "metrics.json").is_file() else {}
        models[export.name] = Served(from_onnx(export), manifest["role"],
                                     records[export.name].get("metrics", {}).get("test/acc"))
    note = with_ensemble(models, blend_pairs(records), Prepared())
    web = browser_first(sorted(path.stem for path in (folder / "web").glob("*.json")), records)
    return Catalogue(ordered(models), [note] if note else [], folder / "web" / f"{web[0]}.json" if web else None)


def load_folder(folder: str | Path, prepared: Prepared | None = None) -> Catalogue:
    """A pipeline run, a train.py run, or an export folder; an error says what to give instead."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"{folder} is not a folder: give a pipeline run folder (logs/pipeline/<time>) "
                        "or an export folder (<run>/export)")
    if stages(folder):
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
