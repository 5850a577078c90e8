"""A run folder is read in one place: what each stage is comes from its record, never from its name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from distill.errors import UserError
from distill.run_folder import (artefact, blend_pairs, browser_first, distillation_teacher, final_fit, networks,
                                read_record, single_teacher, stage_records, stages)


def write(stage: Path, record: dict) -> Path:
    stage.mkdir(parents=True, exist_ok=True)
    (stage / "metrics.json").write_text(json.dumps(record))
    return stage


def test_the_refit_a_record_names_replaces_its_twin_whatever_the_names() -> None:
    records = {"fast": {}, "fast_refit": {"stage": {"refit_of": "other"}}, "final": {"stage": {"refit_of": "fast"}},
               "other": {}, "old": {"role": "student"}}  # "old": a record written before ``stage``
    assert final_fit("fast", records) == "final"
    assert final_fit("other", records) == "fast_refit"
    assert final_fit("old", records) == "old" and final_fit("final", records) == "final"  # no refit of a refit


def test_blend_pairs_follow_the_records_and_skip_partners_the_run_lacks() -> None:
    records = {"b1": {"stage": {"blend_with": ["l2", "gone", "l1"]}}, "l1": {}, "l2": {},
               "b2": {"stage": {"blend_with": ["l1"]}}}
    assert blend_pairs(records) == [("b1", "l2"), ("b1", "l1"), ("b2", "l1")]
    assert blend_pairs({"l1": {}, "l2": {"stage": {"blend_with": []}}}) == []


def test_the_browser_stage_is_the_one_its_record_marks() -> None:
    records = {"a": {"stage": {"browser": False}}, "b": {"stage": {"browser": True}}}
    assert browser_first(["a", "b", "c"], records) == ["b", "a", "c"]
    assert browser_first(["c", "a"], records) == ["c", "a"]  # none marked: as given


def test_the_distillation_teacher_is_an_ensemble_of_teachers_before_a_single_teacher() -> None:
    records = {"big": {"role": "teacher"}, "s": {"role": "student"}, "mix": {"role": "ensemble"},
               "big2": {"role": "teacher"}}
    assert distillation_teacher(records) == "mix" and single_teacher(records) == "big"
    del records["mix"]
    assert distillation_teacher(records) == "big"
    assert distillation_teacher({"s": {"role": "student"}}) is None and single_teacher({}) is None


def test_stages_networks_and_artefacts_of_pipeline_and_train_runs(tmp_path: Path) -> None:
    run = tmp_path / "pipeline"
    lightning = {"status": "completed", "checkpoint": {"format": "lightning", "path": "model.ckpt", "sha256": "x"}}
    (write(run / "net", {**lightning, "model": "bilstm"}) / "model.ckpt").write_bytes(b"weights")
    write(run / "gone", {**lightning, "model": "bilstm"})  # its checkpoint was not committed
    (write(run / "failed", {**lightning, "status": "failed"}) / "model.ckpt").write_bytes(b"weights")
    write(run / "reused", {"status": "completed", "checkpoint": None})
    assert [stage.name for stage in stages(run)] == ["failed", "gone", "net", "reused"]
    assert networks(run) == {"net": run / "net"}
    assert list(stage_records(run)) == ["failed", "gone", "net", "reused"]
    assert artefact(run / "net", read_record(run / "net")) == run / "net" / "model.ckpt"
    with pytest.raises(UserError, match="is gone"):
        artefact(run / "gone", read_record(run / "gone"))
    with pytest.raises(UserError, match="saved no model"):
        artefact(run / "reused", read_record(run / "reused"))
    single = tmp_path / "train"  # a train.py run is its own only stage, named by its model
    (write(single, {**lightning, "model": "logistic"}) / "model.ckpt").write_bytes(b"weights")
    assert stages(single) == [single] and networks(single) == {"logistic": single}
    with pytest.raises(UserError, match="no metrics.json"):
        read_record(tmp_path / "nothing")
