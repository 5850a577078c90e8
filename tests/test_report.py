"""The run report: evaluation formulas on hand-checkable inputs, then a synthetic pipeline run
folder whose numbers are recomputed here independently of distill.report."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf, open_dict

from conftest import make_cfg
from distill.cli.config import load_splits
from distill import evaluation, report
from distill.cli.report import main as report_main
from distill.logit_store import LogitStore
from distill.probability import softmax
from distill.report.collect import load_latency
from distill.report.render import render_markdown

STAGES = ("teacher", "sk_logreg", "teacher_ensemble", "logistic_hard", "logistic_kd", "bilstm_kd")
VAL_ACC = {"logistic_hard": 0.9, "logistic_kd": 0.8}  # best student by VAL: logistic_hard


# --- evaluation ---------------------------------------------------------------------------


def test_softmax_rows_are_distributions() -> None:
    probs = softmax(np.array([[0.0, math.log(3.0)], [1000.0, 1000.0]]))
    np.testing.assert_allclose(probs, [[0.25, 0.75], [0.5, 0.5]])


def test_ece_is_zero_when_confidence_matches_accuracy() -> None:
    probs = np.array([[0.75, 0.25]] * 4 + [[0.0, 1.0]] * 2)
    labels = np.array([0, 0, 0, 1, 1, 1])  # 3 of 4 right at 0.75, 2 of 2 right at 1.0
    assert evaluation.expected_calibration_error(probs, labels) == pytest.approx(0.0)


def test_ece_of_an_overconfident_model() -> None:
    probs = np.array([[1.0, 0.0]] * 4)
    labels = np.array([0, 1, 1, 1])  # confidence 1, accuracy 1/4
    assert evaluation.expected_calibration_error(probs, labels) == pytest.approx(0.75)
    curve = evaluation.reliability(probs, labels)
    assert curve["count"].sum() == 4 and curve["count"][-1] == 4
    assert curve["accuracy"][-1] == pytest.approx(0.25) and np.isnan(curve["accuracy"][0])


def test_mean_kl_by_hand() -> None:
    teacher = np.array([[0.5, 0.5, 0.0], [1.0, 0.0, 0.0]])
    model = np.array([[0.25, 0.75, 0.0], [0.5, 0.25, 0.25]])
    # Row 1: 0.5 ln(0.5/0.25) + 0.5 ln(0.5/0.75); row 2: 1 * ln(1/0.5); the teacher's zeros add 0.
    rows = [0.5 * math.log(2) + 0.5 * math.log(2 / 3), math.log(2)]
    assert evaluation.mean_kl(teacher, model) == pytest.approx(sum(rows) / 2, rel=1e-12)
    # Swapped, row 2 puts 0.25 twice where the other has 0: each costs 0.25 ln(0.25 / 1e-12), the floor.
    swapped = [0.25 * math.log(0.5) + 0.75 * math.log(1.5), 0.5 * math.log(0.5) + 0.5 * math.log(0.25e12)]
    assert evaluation.mean_kl(model, teacher) == pytest.approx(sum(swapped) / 2, rel=1e-12)


def test_mean_kl_of_identical_distributions_is_exactly_zero() -> None:
    p = np.array([[0.5, 0.5, 0.0]])
    assert evaluation.mean_kl(p, p) == 0.0
    confident = np.full((4, 20), 1e-15)  # below the log floor, as a confident teacher's tail is
    confident[:, 3] = 1 - 19e-15
    assert evaluation.mean_kl(confident, confident) == 0.0  # the floor alone would give -1.3e-13


def test_kl_cosine_and_agreement() -> None:
    p = np.array([[0.5, 0.5, 0.0]])
    assert evaluation.mean_cosine(p, p) == pytest.approx(1.0)
    assert evaluation.mean_cosine(np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]])) == pytest.approx(0.0)
    assert evaluation.agreement(np.array([[0.9, 0.1], [0.2, 0.8]]), np.array([[0.6, 0.4], [0.7, 0.3]])) == 0.5


def test_split_scores_leave_unlabelled_rows_out_of_acc_and_f1() -> None:
    logits = np.array([[2.0, 0.0], [0.0, 2.0], [0.0, 2.0], [2.0, 0.0]])  # predicts 0, 1, 1, 0
    labels = np.array([0, 1, -1, -1])
    teacher = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 0.0]])  # 0, 1, 0, 0
    assert evaluation.split_scores("test", logits, labels, teacher) == {
        "test/acc": 1.0, "test/f1_macro": 1.0, "test/agreement": 0.75}
    assert evaluation.split_scores("val", logits[2:], labels[2:], teacher[2:]) == {"val/agreement": 0.5}


def test_per_class_and_confusion() -> None:
    labels, predicted = np.array([0, 0, 1, 2]), np.array([0, 1, 1, 1])
    scores = evaluation.per_class(labels, predicted, 3)
    np.testing.assert_allclose(scores["precision"], [1.0, 1 / 3, 0.0])
    np.testing.assert_allclose(scores["recall"], [0.5, 1.0, 0.0])
    np.testing.assert_array_equal(scores["support"], [2, 1, 1])
    np.testing.assert_array_equal(evaluation.confusion_matrix(labels, predicted, 3),
                                  [[1, 1, 0], [0, 1, 0], [0, 1, 0]])


# --- a synthetic run folder ---------------------------------------------------------------


def _scores(logits: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    predicted = logits.argmax(-1)
    f1 = [2 * np.sum((predicted == c) & (labels == c)) / max(np.sum(predicted == c) + np.sum(labels == c), 1)
          for c in range(logits.shape[1])]
    return {"test/acc": float(np.mean(predicted == labels)), "test/f1_macro": float(np.mean(f1))}


def _write_stage(run_dir: Path, name: str, role: str, splits: dict, logits: dict, source: dict,
                 distill: dict | None = None, order: np.ndarray | None = None) -> None:
    """A stage folder as train.py leaves it; ``order`` permutes the rows stored on disk."""
    if order is not None:
        splits = {split: corpus.subset(order[split]) for split, corpus in splits.items()}
        logits = {split: values[order[split]] for split, values in logits.items()}
    metrics = {"val/acc_best": VAL_ACC.get(name, 0.7), **_scores(logits["test"], splits["test"].labels),
               "params": 1000.0 * (1 + len(name)), "weights_mb": 0.01 * len(name)}
    source = {"kind": role, "model": name, **source, "metrics": metrics}
    LogitStore.from_predictions(splits, logits, source).save(run_dir / name / "logits.npz")
    record = {"model": name, "role": role, "status": "completed", "distill": distill, "metrics": metrics}
    (run_dir / name / "metrics.json").write_text(json.dumps(record))


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, corpus_archive: Path) -> dict:
    """Fake teacher, classic, ensemble and two students (one stored in shuffled row order), one failure."""
    tmp = tmp_path_factory.mktemp("report")
    run_dir = tmp / "run"
    cfg = make_cfg(tmp, corpus_archive)
    with open_dict(cfg):
        cfg.paths.output_dir = str(run_dir)
        cfg.pipeline = {"stages": [{name: [f"+stage={name}"]} for name in STAGES]}
    (run_dir / ".hydra").mkdir(parents=True)
    OmegaConf.save(cfg, run_dir / ".hydra" / "config.yaml", resolve=False)
    splits = load_splits(cfg)
    rng = np.random.default_rng(0)

    def noisy(corpus, signal: float) -> np.ndarray:
        return signal * np.eye(3)[corpus.labels] + rng.normal(size=(len(corpus), 3))

    logits = {"teacher": {s: noisy(c, 2.0) for s, c in splits.items()},
              "sk_logreg": {s: noisy(c, 1.0) for s, c in splits.items()}}
    logits["teacher_ensemble"] = {s: 0.7 * logits["teacher"][s] + 0.3 * logits["sk_logreg"][s] for s in splits}
    students = {s: splits[s] for s in ("val", "test")}
    logits["logistic_hard"] = {s: noisy(c, 1.5) for s, c in students.items()}
    logits["logistic_kd"] = {s: logits["teacher_ensemble"][s] for s in students}  # a perfect imitation

    _write_stage(run_dir, "teacher", "teacher", splits, logits["teacher"], {"pretrained": "tiny"})
    _write_stage(run_dir, "sk_logreg", "classic", splits, logits["sk_logreg"], {"params": {"clf__C": 3.0}})
    members = {"teacher": {"weight": 0.7, "temperature": 1.5, "logits_sha256": "x"},
               "sk_logreg": {"weight": 0.3, "temperature": 2.0, "logits_sha256": "y"}}
    _write_stage(run_dir, "teacher_ensemble", "ensemble", splits, logits["teacher_ensemble"], {"members": members})
    _write_stage(run_dir, "logistic_hard", "student", students, logits["logistic_hard"], {},
                 {"kind": "none", "alpha": 0.0})
    shuffled = {s: rng.permutation(len(c)) for s, c in students.items()}
    _write_stage(run_dir, "logistic_kd", "student", students, logits["logistic_kd"], {},
                 {"kind": "kl", "alpha": 0.5, "temperature": 4.0}, order=shuffled)
    (run_dir / "bilstm_kd").mkdir()
    (run_dir / "bilstm_kd" / "metrics.json").write_text(
        json.dumps({"model": "bilstm", "status": "failed", "error": "RuntimeError: out of memory"}))
    (run_dir / "comparison.json").write_text(json.dumps({name: {} for name in STAGES[:-1]}))

    inference = tmp / "inference.json"
    inference.write_text(json.dumps({"run": str(run_dir), "records": [
        {"model": "logistic_hard", "runtime": "pytorch", "latency_ms_p50": 2.0},
        {"model": "logistic_hard", "runtime": "onnxruntime", "latency_ms_p50": 0.5},
        {"model": "teacher", "runtime": "pytorch", "latency_ms_p50": 40.0},
    ]}))
    report_main([str(run_dir), "--inference", str(inference)])
    probs = {name: softmax(values["test"]) for name, values in logits.items()}
    return {"dir": run_dir, "test": splits["test"], "probs": probs,
            "json": json.loads((run_dir / "report" / "report.json").read_text()),
            "md": (run_dir / "report" / "report.md").read_text()}


def _ece(probs: np.ndarray, labels: np.ndarray, bins: int = 15) -> float:
    total = 0.0
    for low in range(bins):
        inside = (probs.max(1) > low / bins) & (probs.max(1) <= (low + 1) / bins)
        if inside.any():
            gap = np.mean(probs[inside].argmax(1) == labels[inside]) - np.mean(probs[inside].max(1))
            total += inside.sum() * abs(gap)
    return total / len(labels)


def test_summary_numbers_match_independent_computation(run: dict) -> None:
    summary, probs, labels = run["json"]["summary"], run["probs"], run["test"].labels
    assert run["json"]["reference_teacher"] == "teacher_ensemble"
    assert list(summary) == list(STAGES[:-1])  # stage order, failed stage left out
    reference = probs["teacher_ensemble"]
    for name, row in summary.items():
        model = probs[name]
        assert row["agreement"] == pytest.approx(np.mean(model.argmax(1) == reference.argmax(1)))
        assert row["agreement_teacher"] == pytest.approx(np.mean(model.argmax(1) == probs["teacher"].argmax(1)))
        kl = np.sum(reference * (np.log(reference) - np.log(model)), 1).mean()
        assert row["kl"] == pytest.approx(kl, abs=1e-6)
        cosine = np.mean([a @ b / np.linalg.norm(a) / np.linalg.norm(b) for a, b in zip(model, reference)])
        assert row["cosine"] == pytest.approx(cosine)
        assert row["ece"] == pytest.approx(_ece(model, labels))
        assert row["test_acc"] == pytest.approx(np.mean(model.argmax(1) == labels))
    kd = summary["logistic_kd"]  # stored shuffled on disk: only an id lookup gives a perfect imitation
    assert kd["agreement"] == 1.0 and kd["kl"] == pytest.approx(0.0, abs=1e-6) and kd["cosine"] == pytest.approx(1.0)


def test_per_class_confusion_and_latency(run: dict) -> None:
    result, labels = run["json"], run["test"].labels
    predicted = run["probs"]["logistic_hard"].argmax(1)
    assert result["confusion"]["model"] == "logistic_hard"  # highest val acc, not test acc
    for true in range(3):
        for guess in range(3):
            assert result["confusion"]["matrix"][true][guess] == np.sum((labels == true) & (predicted == guess))
    name = run["test"].label_names[1]
    scores = result["per_class"]["logistic_hard"][name]
    assert scores["support"] == np.sum(labels == 1)
    assert scores["recall"] == pytest.approx(np.mean(predicted[labels == 1] == 1))
    assert scores["precision"] == pytest.approx(np.mean(labels[predicted == 1] == 1))
    assert set(result["per_class"]) == set(STAGES[:-1])
    summary = result["summary"]
    assert summary["logistic_hard"]["latency_ms"] == 0.5
    assert summary["logistic_hard"]["latency_runtime"] == "onnxruntime"  # the fastest of its runtimes
    assert summary["teacher"]["latency_ms"] == 40.0 and summary["logistic_kd"]["latency_ms"] is None


def test_dark_knowledge_shows_teacher_near_misses(run: dict) -> None:
    """Documents with text where the reference teacher's top-1 probability is in [0.3, 0.7]."""
    reference, test = run["probs"]["teacher_ensemble"], run["test"]
    top = reference.max(1)
    near = [i for i in range(len(test)) if 0.3 <= top[i] <= 0.7 and test.texts[i].strip()]
    assert len(near) >= 5  # the synthetic teacher is unsure often enough to test the choice
    expected = (near + [i for i in range(len(test)) if i not in near])[:5]
    documents = run["json"]["dark_knowledge"]
    assert [d["id"] for d in documents] == [int(test.ids[i]) for i in expected]
    for document, index in zip(documents, expected):
        assert document["label"] == test.label_names[test.labels[index]]
        assert document["teacher"][0] == pytest.approx(top[index])
        assert set(document["students"]) == {"logistic_hard", "logistic_kd"}
        np.testing.assert_allclose(document["students"]["logistic_kd"]["probs"], document["teacher"], rtol=1e-5)


def test_markdown_plots_and_settings(run: dict) -> None:
    markdown, result, out = run["md"], run["json"], run["dir"] / "report"
    for name in STAGES:
        assert name in markdown
    assert "**bilstm_kd** left out (failed): RuntimeError: out of memory" in markdown
    assert {"stage": "bilstm_kd", "status": "failed", "reason": "RuntimeError: out of memory"} in result["left_out"]
    assert "| logistic_kd | student |" in markdown and "**teacher_ensemble**" in markdown
    for file in ("accuracy.png", "confusion.png", "reliability.png"):
        assert (out / file).stat().st_size > 0 and f"]({file})" in markdown
    assert "accuracy vs latency" in result["plots"]
    assert set(result["reliability"]) == {"teacher_ensemble", "logistic_hard", "logistic_kd"}
    settings = result["settings"]
    assert settings["sk_logreg"]["params"] == {"clf__C": 3.0}
    assert settings["teacher_ensemble"]["members"]["teacher"] == {"weight": 0.7, "temperature": 1.5}
    assert settings["logistic_kd"]["distill"]["temperature"] == 4.0
    assert settings["logistic_kd"]["overrides"] == ["+stage=logistic_kd"]
    assert '- **logistic_kd**: overrides: `["+stage=logistic_kd"]`' in markdown


def test_without_ensemble_or_latency(run: dict, tmp_path: Path) -> None:
    """The plain teacher becomes the reference; no latency means '-' and accuracy vs parameters."""
    run_dir = tmp_path / "run"
    shutil.copytree(run["dir"], run_dir, ignore=shutil.ignore_patterns("report"))
    shutil.rmtree(run_dir / "teacher_ensemble")
    result = report.build_report(run_dir, run["test"], {name: [f"+stage={name}"] for name in STAGES})
    plots = report.write_report(result, tmp_path / "out")
    assert result["reference_teacher"] == "teacher"
    assert {"stage": "teacher_ensemble", "status": "not run", "reason": "no metrics.json"} in result["left_out"]
    row = result["summary"]["logistic_hard"]
    assert "agreement_teacher" not in row and row["latency_ms"] is None
    probs = run["probs"]
    assert row["agreement"] == pytest.approx(np.mean(probs["logistic_hard"].argmax(1) == probs["teacher"].argmax(1)))
    assert "accuracy vs parameters (no latency measured)" in plots
    assert "| logistic_hard | student |" in (tmp_path / "out" / "report.md").read_text()


def test_latency_records_in_a_dict(tmp_path: Path) -> None:
    """Records nested in a dict count; a batched measurement is not a per-document latency."""
    records = {"a": {"model": "m", "runtime": "sklearn", "latency_ms_p50": 3.0},
               "b": [{"model": "m", "runtime": "onnxruntime", "latency_ms_p50": 1.0, "batch_size": 32}]}
    (tmp_path / "inference.json").write_text(json.dumps(records))
    path = tmp_path / "inference.json"
    assert load_latency([path]) == {"m": {"ms": 3.0, "runtime": "sklearn", "source": str(path)}}


def test_latency_of_another_run_is_left_out_unless_its_checkpoint_is_the_stages(run: dict, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(run["dir"], run_dir, ignore=shutil.ignore_patterns("report"))
    record = json.loads((run_dir / "logistic_hard" / "metrics.json").read_text())
    (run_dir / "logistic_hard" / "metrics.json").write_text(json.dumps({**record, "checkpoint": {"sha256": "abc"}}))
    other = tmp_path / "inference.json"  # measured on another run folder
    other.write_text(json.dumps({"run": str(tmp_path / "elsewhere"), "records": [
        {"model": "logistic_hard", "runtime": "onnxruntime", "latency_ms_p50": 0.5, "checkpoint_sha256": "abc"},
        {"model": "teacher", "runtime": "pytorch", "latency_ms_p50": 40.0, "checkpoint_sha256": "xyz"}]}))
    result = report.build_report(run_dir, run["test"], {}, [other])
    assert result["summary"]["logistic_hard"]["latency_ms"] == 0.5  # the same checkpoint: the same model
    assert result["summary"]["teacher"]["latency_ms"] is None
    nothing = tmp_path / "nothing.json"
    nothing.write_text(json.dumps({"run": str(tmp_path / "elsewhere"), "records": [
        {"model": "teacher", "runtime": "pytorch", "latency_ms_p50": 40.0}]}))
    result = report.build_report(run_dir, run["test"], {}, [nothing])
    assert result["inference"] is None
    assert "not measured on this run" in render_markdown(result, {})


def test_latency_of_a_retrained_stage_comes_from_its_own_timing(run: dict, tmp_path: Path) -> None:
    """A stage re-trained after its run was timed: a record of its old checkpoint is dropped, even a faster
    one in a file that timed this very folder; each model keeps its fastest record of its own checkpoint,
    whichever file holds it; a teacher without a checkpoint counts only from the file that timed this folder."""
    run_dir = tmp_path / "run"
    shutil.copytree(run["dir"], run_dir, ignore=shutil.ignore_patterns("report"))
    for name, sha in (("logistic_hard", "new"), ("logistic_kd", "kd")):
        record = json.loads((run_dir / name / "metrics.json").read_text())
        (run_dir / name / "metrics.json").write_text(json.dumps({**record, "checkpoint": {"sha256": sha}}))
    earlier, later = tmp_path / "inference.json", tmp_path / "inference_retrained.json"
    earlier.write_text(json.dumps({"run": str(run_dir), "records": [
        {"model": "logistic_hard", "runtime": "pytorch", "latency_ms_p50": 0.4, "checkpoint_sha256": "old"},
        {"model": "logistic_kd", "runtime": "pytorch", "latency_ms_p50": 0.6, "checkpoint_sha256": "kd"},
        {"model": "teacher", "runtime": "pytorch", "latency_ms_p50": 40.0}]}))
    later.write_text(json.dumps({"run": str(tmp_path / "elsewhere"), "records": [
        {"model": "logistic_hard", "runtime": "pytorch", "latency_ms_p50": 0.9, "checkpoint_sha256": "new"},
        {"model": "logistic_kd", "runtime": "onnxruntime", "latency_ms_p50": 0.7, "checkpoint_sha256": "kd"},
        {"model": "teacher", "runtime": "pytorch", "latency_ms_p50": 30.0}]}))
    result = report.build_report(run_dir, run["test"], {}, [earlier, later])
    summary = result["summary"]
    assert summary["logistic_hard"]["latency_ms"] == 0.9
    assert (summary["logistic_kd"]["latency_ms"], summary["logistic_kd"]["latency_runtime"]) == (0.6, "pytorch")
    assert summary["teacher"]["latency_ms"] == 40.0
    assert result["inference"] == [str(earlier), str(later)]  # the files that gave a latency, in the order given
    assert f"from {earlier}, {later}." in render_markdown(result, {})


def test_report_names_a_missing_inference_file(run: dict, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        report_main([str(run["dir"]), "--inference", str(tmp_path / "absent.json"), "--out", str(tmp_path / "out")])
    assert f"no inference file {tmp_path / 'absent.json'}" in capsys.readouterr().err


def test_the_report_command_loads_no_training_code() -> None:
    """``distill-report`` reads records and logits: it must not pay for importing Lightning."""
    code = "import sys, distill.cli.report; print(sorted({'lightning', 'torch'} & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
