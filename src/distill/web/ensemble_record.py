"""The students' ensemble as fitted on val, kept beside the exports with everything the fit depends on,
so that a server starting again on an unchanged run reads it instead of loading the corpus (and the
training code that loads it, seconds of every start)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from distill.atomic import write_text
from distill.logit_store import file_sha256
from distill.run_folder import blend_pairs, final_fit

RECORD = Path("export") / "students_ensemble.json"
FORMAT = 1  # raise it when the way a fit is chosen changes: older records are then fitted again
Fitted = tuple[tuple[str, str], float, float]  # the served members, the first one's weight, the blend's test accuracy


def fit_inputs(run: Path, records: Mapping[str, dict]) -> dict[str, Any]:
    """What a fit depends on: the pairs the records allow, the stage each member is served as, the run's
    config (its data) and the checksum of every store read (None when absent). Taken before fitting, so a
    store rewritten meanwhile is not recorded as the one fitted."""
    pairs = blend_pairs(records)
    members = sorted({name for pair in pairs for name in pair})
    served_as = {name: final_fit(name, records) for name in members}
    stores = {name: run / name / "logits.npz" for name in sorted({*members, *served_as.values()})}
    config = run / ".hydra" / "config.yaml"
    return {"format": FORMAT, "pairs": [list(pair) for pair in pairs], "served_as": served_as,
            "config": file_sha256(config) if config.is_file() else None,
            "stores": {name: file_sha256(path) if path.is_file() else None for name, path in stores.items()}}


def recorded_ensemble(run: Path, inputs: dict[str, Any]) -> Fitted | None:
    """The recorded fit when it was made from ``inputs``; None otherwise (or when the record is unreadable)."""
    try:
        saved = json.loads((run / RECORD).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(saved, dict) or saved.get("inputs") != inputs:
        return None
    return tuple(saved["members"]), saved["weight"], saved["test_acc"]


def record_ensemble(run: Path, inputs: dict[str, Any], fitted: Fitted) -> None:
    """Write the fit with what it was made from (atomically)."""
    members, weight, test_acc = fitted
    document = {"members": list(members), "weight": weight, "test_acc": test_acc, "inputs": inputs}
    write_text(run / RECORD, json.dumps(document, indent=2))
