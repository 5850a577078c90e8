"""benchmarks/newsgroups20.py's targets: every choice on val, test only reported."""

import json
from pathlib import Path

import pytest

from conftest import benchmark_module


def single_student_line(models: dict, records: dict | None = None) -> str:
    text = benchmark_module("newsgroups20").targets({"models": models}, [], records or {})
    return next(row for row in text.splitlines() if row.startswith("| a single distilled student"))


def model(role: str, val: float | None, test: float, distilled: bool = True) -> dict:
    return {"role": role, "val_acc": val, "test_acc": test, "distilled": distilled}


def test_the_single_student_target_reports_the_distilled_student_best_on_val_not_on_test() -> None:
    line = single_student_line({
        "teacher_ensemble": model("ensemble", 0.79, 0.74),
        "logistic_hard": model("student", 0.80, 0.71, distilled=False),
        "unscored": model("student", None, 0.75),
        "on_val": model("student", 0.78, 0.70),
        "on_test": model("student", 0.75, 0.73),
    })
    assert "0.7000 (on_val)" in line and "-0.0200" in line and line.endswith("missed |")


def test_the_single_student_target_reports_the_val_choice_refit_on_train_and_val_when_the_plan_has_it() -> None:
    models = {
        "on_val": model("student", 0.78, 0.70),
        "final": model("student", None, 0.725),  # no val of its own: it learnt val
        "on_val_refit": model("student", None, 0.74),  # named like a refit, but its record says it is not one
        "other": model("student", 0.75, 0.73),
    }
    records = {"final": {"stage": {"refit_of": "on_val"}}, "on_val_refit": {"stage": {"refit_of": "other"}}}
    line = single_student_line(models, records)
    assert "0.7250 (final)" in line and "+0.0050" in line and line.endswith("met |")
    assert "0.7000 (on_val)" in single_student_line(models)  # no record names a refit: the val choice itself


def test_a_refit_stage_must_be_its_twin_plus_the_refit_with_the_epochs_val_chose(tmp_path: Path) -> None:
    check_refits = benchmark_module("newsgroups20").check_refits
    (tmp_path / "twin").mkdir()
    record = {"checkpoint": {"path": "checkpoints/epoch03-acc0.7.ckpt"}}  # the 4th epoch, counted from 0
    (tmp_path / "twin" / "metrics.json").write_text(json.dumps(record))
    (tmp_path / "final").mkdir()
    (tmp_path / "final" / "metrics.json").write_text(json.dumps({"stage": {"refit_of": "twin"}}))
    twin = {"overrides": ["model=logistic_nb", "distill=none", "stage.blend_with=[other]"]}
    check_refits(tmp_path, {"twin": twin, "final": {"overrides": ["model=logistic_nb", "distill=none",
                                                                  "refit=train_val", "model.max_epochs=4",
                                                                  "stage.refit_of=twin"]}})
    for drifted in (["model=logistic_nb", "distill=none", "refit=train_val", "model.max_epochs=5"],
                    ["model=logistic_nb", "distill=kl", "refit=train_val", "model.max_epochs=4"]):
        with pytest.raises(SystemExit, match="not the refit of twin"):
            check_refits(tmp_path, {"twin": twin, "final": {"overrides": drifted}})
    check_refits(tmp_path, {"twin": twin, "twin_refit": {"overrides": drifted}})  # no record: named so, not a refit


def test_the_ensemble_target_takes_the_fastest_ensemble_record_against_the_fastest_teacher() -> None:
    def record(name: str, docs_s: float, acc: float = 0.731) -> dict:
        role = "ensemble" if name.startswith("students_") else "teacher" if name == "teacher" else "student"
        return {"model": name, "role": role, "throughput_docs_s": docs_s, "test_acc": acc,
                "members": {"b_refit": 0.2, "l": 0.8}}

    inference = {"records": [record("teacher", 15.0), record("teacher", 16.0), record("students_ensemble", 150.0),
                             record("students_ensemble_cascade", 400.0), record("logistic_kd", 2000.0)]}
    retimed = {"records": [record("teacher", 30.0), record("bilstm_kd", 200.0)]}  # a re-trained stage, timed alone
    text = benchmark_module("newsgroups20").targets({"models": {}}, [retimed, inference], {})
    line = next(row for row in text.splitlines() if ">= 0.73 at >= 10x" in row)
    # against the teacher timed in the ensemble's own invocation, not the faster one of another
    assert line.startswith("| students_ensemble_cascade (b_refit + l)") and "0.7310 at 25.0x" in line
    assert line.endswith("met |")
    slow = {"records": [*inference["records"][:3], record("students_ensemble_cascade", 159.0)]}
    line = next(row for row in benchmark_module("newsgroups20").targets({"models": {}}, [slow], {}).splitlines()
                if ">= 0.73 at >= 10x" in row)
    assert "at 9.9x" in line and "-0.1x" in line and line.endswith("missed |")
