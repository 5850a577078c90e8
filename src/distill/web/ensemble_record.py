"""The students' ensemble as fitted on val, kept beside the exports with the checksums of the logit
stores it was fitted from, so that a server starting again on an unchanged run reads it instead of
loading the corpus (and the training code that loads it, seconds of every start)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from distill.atomic import write_text
from distill.logit_store import file_sha256
from distill.run_folder import blend_pairs, final_fit

RECORD = Path("export") / "students_ensemble.json"
Fitted = tuple[tuple[str, str], float, float]  # the served members, the first one's weight, the blend's test accuracy


def stores_read(run: Path, records: Mapping[str, dict]) -> dict[str, str | None]:
    """The checksum of every store a fit reads (each stage of a pair and its final fit); None when absent."""
    names = {name for pair in blend_pairs(records) for name in pair}
    names |= {final_fit(name, records) for name in names}
    paths = {name: run / name / "logits.npz" for name in sorted(names)}
    return {name: file_sha256(path) if path.is_file() else None for name, path in paths.items()}


def recorded_ensemble(run: Path, records: Mapping[str, dict]) -> Fitted | None:
    """The recorded fit, when every store it was fitted from is unchanged; None otherwise."""
    path = run / RECORD
    if not path.is_file():
        return None
    saved = json.loads(path.read_text())
    if saved.get("stores") != stores_read(run, records):
        return None
    return tuple(saved["members"]), saved["weight"], saved["test_acc"]


def record_ensemble(run: Path, records: Mapping[str, dict], fitted: Fitted) -> None:
    members, weight, test_acc = fitted
    document = {"members": list(members), "weight": weight, "test_acc": test_acc, "stores": stores_read(run, records)}
    write_text(run / RECORD, json.dumps(document, indent=2))
