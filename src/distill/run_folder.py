"""A run folder, read in one place: its stages, their records, artefacts and freshness, and what each stage is.

A pipeline run holds one folder per stage (``<run>/<stage>/metrics.json``); a train.py run is
its own only stage (``<run>/metrics.json``). A stage's ``metrics.json`` (its record) names its
role, its artefact (``checkpoint``: format, path relative to the stage, SHA-256) and its
features folder; under ``stage`` it says what the experiment made of it (``refit_of``,
``blend_with``, ``browser``: ``conf/train.yaml``). Serving, export, the report and the
benchmarks read all of that here, so a stage is named in an experiment's yaml and nowhere in
the library. Nothing here needs PyTorch.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from distill.errors import UserError

# Roles of the stages students learn from, the distillation teacher's first: an ensemble of
# teachers labels for the students where a run has one. A new kind of teacher is one entry here.
TEACHER_ROLES = ("ensemble", "teacher", "teacher_finetuned", "teacher_imported")
SINGLE_TEACHER_ROLES = ("teacher", "teacher_finetuned", "teacher_imported")  # one model, not a combination of others
NOT_DESCRIBED = {"refit_of": None, "blend_with": [], "browser": False}  # a record written before ``stage``


def read_record(stage: str | Path) -> dict:
    """A stage folder's ``metrics.json``, which names its artefact."""
    path = Path(stage) / "metrics.json"
    if not path.is_file():
        raise UserError(f"{stage} is not a run folder (no metrics.json): give a stage folder of a pipeline run, "
                        "a train.py run folder or an export folder")
    return json.loads(path.read_text())


def artefact(stage: str | Path, record: dict) -> Path:
    """The stage's trained artefact (checkpoint or pickle); an error names what is missing."""
    checkpoint = record.get("checkpoint")
    if not checkpoint:
        raise UserError(f"{stage}: its run saved no model (only logits): re-run it with callbacks=default")
    path = Path(stage) / checkpoint["path"]
    if not path.is_file():
        raise UserError(f"{stage}: its model {checkpoint['path']} is gone (a committed run keeps logits only): "
                        "re-run the stage to serve it")
    return path


def is_current(stage: Path, out: Path) -> bool:
    """Whether ``out`` holds a complete export of the stage's present checkpoint.

    A stage re-run in the same folder (new settings) leaves its old export behind: serving or
    timing that graph would silently stand for a model the stage no longer holds.
    """
    manifest = out / "manifest.json"
    checkpoint = read_record(stage).get("checkpoint")
    return (manifest.is_file() and checkpoint is not None
            and json.loads(manifest.read_text()).get("checkpoint_sha256") == checkpoint["sha256"])


def stages(run: Path) -> list[Path]:
    """The run itself (a train.py run) or its stage folders (a pipeline run), by name."""
    return [run] if (run / "metrics.json").is_file() else sorted(path.parent for path in run.glob("*/metrics.json"))


def stage_name(run: Path, stage: Path) -> str:
    """What a stage is called (served, exported, blended): its folder's name; a train.py run's model's."""
    return stage.name if stage != run else read_record(run)["model"]


def has_network(stage: Path) -> bool:
    """Whether the stage completed and still holds its Lightning checkpoint (a network to export or serve)."""
    held = read_record(stage)
    checkpoint = held.get("checkpoint") or {}
    return (held.get("status", "completed") == "completed" and checkpoint.get("format") == "lightning"
            and (stage / checkpoint["path"]).is_file())


def networks(run: Path) -> dict[str, Path]:
    """Every stage of ``run`` with a network, by name."""
    return {stage_name(run, stage): stage for stage in stages(run) if has_network(stage)}


def stage_records(run: Path) -> dict[str, dict]:
    """Every stage's record, by name."""
    return {stage_name(run, stage): read_record(stage) for stage in stages(run)}


def described(record: dict) -> dict:
    """What the experiment made of the stage: ``refit_of``, ``blend_with`` and ``browser``."""
    return {**NOT_DESCRIBED, **(record.get("stage") or {})}


def final_fit(name: str, records: Mapping[str, dict]) -> str:
    """The stage that replaces ``name`` where it is scored and served: its refit, where ``records`` hold one.

    Val chooses a student's settings, epoch count and ensemble weight on the stage trained on
    train alone; ``refit=train_val`` then trains it again on train and val as another stage
    (``stage.refit_of`` names the first). Val cannot judge the refit (it learnt val), so every
    choice is made on the first stage, and the refit replaces it only afterwards.
    """
    return next((other for other, held in records.items() if described(held)["refit_of"] == name), name)


def blend_pairs(records: Mapping[str, dict]) -> list[tuple[str, str]]:
    """The (stage, partner) pairs that may be served as a two-student ensemble, both in ``records``:
    each stage's ``stage.blend_with``, in the order of ``records`` and then of that list."""
    return [(name, partner) for name, held in records.items() for partner in described(held)["blend_with"]
            if partner in records]


def browser_first(names: list[str], records: Mapping[str, dict]) -> list[str]:
    """``names`` with those whose record sets ``stage.browser`` first."""
    return sorted(names, key=lambda name: not described(records.get(name, {}))["browser"])


def is_teacher(record: dict) -> bool:
    return record.get("role") in TEACHER_ROLES


def distillation_teacher(records: Mapping[str, dict]) -> str | None:
    """The teacher the students learnt from: the first stage of the first role in ``TEACHER_ROLES``."""
    ranked = [(TEACHER_ROLES.index(held["role"]), position) for position, held in enumerate(records.values())
              if is_teacher(held)]
    return list(records)[min(ranked)[1]] if ranked else None


def single_teacher(records: Mapping[str, dict]) -> str | None:
    """The first stage that is one teacher model (not an ensemble of them)."""
    return next((name for name, held in records.items() if held.get("role") in SINGLE_TEACHER_ROLES), None)
