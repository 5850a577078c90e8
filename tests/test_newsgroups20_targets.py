"""benchmarks/newsgroups20.py's targets: every choice on val, test only reported."""

from conftest import benchmark_module


def model(role: str, val: float | None, test: float, distilled: bool = True) -> dict:
    return {"role": role, "val_acc": val, "test_acc": test, "distilled": distilled}


def test_the_single_student_target_reports_the_distilled_student_best_on_val_not_on_test() -> None:
    result = {"models": {
        "teacher_ensemble": model("ensemble", 0.79, 0.74),
        "logistic_hard": model("student", 0.80, 0.71, distilled=False),
        "unscored": model("student", None, 0.75),
        "on_val": model("student", 0.78, 0.70),
        "on_test": model("student", 0.75, 0.73),
    }}
    line = next(row for row in benchmark_module("newsgroups20").targets(result, None).splitlines()
                if row.startswith("| a single distilled student"))
    assert "0.7000 (on_val)" in line and "-0.0200" in line and line.endswith("missed |")
