"""Every export carries a model card whose numbers are the run's records, and exporting is quiet."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from distill.atomic import write_text
from distill.model_card import write_card
from distill.serving.size import preprocessing_files, size_on_disk_mb

NOISE = ("torchvision is not installed", "TorchScript", "can cause an error", "LeafSpec", "Attribute type is ambiguous",
         "will not be used, since it shares", "Warning")


@pytest.fixture(scope="module")
def run(trained_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the shared run, not exported, whose teacher kept its logits only (as a committed run does):
    two distilled students to export, one a BiLSTM, and the teacher their cards name."""
    copy = tmp_path_factory.mktemp("card") / "run"
    shutil.copytree(trained_run, copy, ignore=lambda folder, names: {"export"} | (
        {"checkpoints"} if Path(folder) == trained_run / "teacher" else set()))
    return copy


EXPORTED = ["bilstm_kd", "logistic_kd"]  # the copy's networks with a checkpoint: its teacher kept logits only


@pytest.fixture(scope="module")
def exported(run: Path) -> tuple[Path, subprocess.CompletedProcess]:
    """``python -m distill.export`` as a user runs it: its stderr, and the export folder."""
    done = subprocess.run([sys.executable, "-m", "distill.export", str(run)], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return run / "export", done


def front_matter(card: str) -> dict:
    assert card.startswith("---\n")
    return yaml.safe_load(card.split("---\n")[1])


def test_export_prints_no_third_party_warnings(exported, run: Path) -> None:
    """The BiLSTM's export is where torch warned that an LSTM "can cause an error"."""
    export, done = exported
    assert [noise for noise in NOISE if noise in done.stderr] == [], done.stderr[-3000:]
    assert sorted(path.name for path in export.iterdir()) == EXPORTED and done.stdout.count("[export]") == len(EXPORTED)


def test_the_card_holds_the_runs_numbers(exported, run: Path) -> None:
    export, _ = exported
    for stage in EXPORTED:
        card = (export / stage / "README.md").read_text()
        record = json.loads((run / stage / "metrics.json").read_text())
        metrics = record["metrics"]
        manifest = json.loads((export / stage / "manifest.json").read_text())
        front = front_matter(card)
        assert front["license"] and front["pipeline_tag"] == "text-classification"
        values = {item["name"]: item["value"] for item in front["model-index"][0]["results"][0]["metrics"]}
        assert values == {"val accuracy": metrics["val/acc_best"], "test accuracy": metrics["test/acc"],
                          "test agreement with the teacher": metrics["test/agreement"]}
        assert f"| val accuracy | {metrics['val/acc_best']:.4f} |" in card
        assert f"| test accuracy | {metrics['test/acc']:.4f} |" in card
        assert manifest["params"] == metrics["params"] and f"| parameters | {int(metrics['params'])} |" in card
        size = size_on_disk_mb(export / stage / "model.onnx", *preprocessing_files(export / stage))
        assert f"| size on disk (model.onnx and preprocessing) | {size:.2f} MB |" in card
        assert "| documents/s (ONNX Runtime, batch 64) | not measured |" in card
        assert "headers, signature footers and quoted replies are stripped" in card
        distill = record["distill"]
        assert "It was distilled from the run's `teacher`" in card
        assert f": kind {distill['kind']}, alpha {distill['alpha']}, temperature {distill['temperature']}." in card
        assert f"| test agreement with the teacher | {metrics['test/agreement']:.4f} |" in card
        assert 'load("' + stage + '")' in card and "onnxruntime.InferenceSession" in card


def test_a_student_without_a_teacher_says_so(exported, run: Path, tmp_path: Path) -> None:
    """A student whose record says it learnt from the labels alone (distill=none: alpha 0) names no teacher."""
    export, _ = exported
    stage, out = tmp_path / "run" / "logistic_kd", tmp_path / "export" / "logistic_kd"
    shutil.copytree(run / "logistic_kd", stage)
    shutil.copytree(export / "logistic_kd", out)
    record = json.loads((stage / "metrics.json").read_text())
    (stage / "metrics.json").write_text(json.dumps({**record, "distill": {**record["distill"], "alpha": 0.0}}))
    card = write_card(stage, out).read_text()
    assert "It learnt from the labels only (no teacher)." in card and "distilled" not in card


def test_the_card_takes_documents_per_second_from_the_runs_timing(exported, run: Path) -> None:
    export, _ = exported
    sha = json.loads((export / "logistic_kd" / "manifest.json").read_text())["checkpoint_sha256"]
    record = {"model": "logistic_kd", "runtime": "onnxruntime", "checkpoint_sha256": sha,
              "throughput_docs_s": 1234.56, "latency_ms_p50": 0.1}
    stale = {**record, "model": "bilstm_kd", "checkpoint_sha256": "0" * 64}  # timed an earlier checkpoint
    write_text(run / "inference.json", json.dumps({"machine": {"cpu": "Test CPU 9000", "threads": 2},
                                                   "records": [record, stale]}))
    try:
        card = write_card(run / "logistic_kd", export / "logistic_kd").read_text()
        assert "| documents/s (ONNX Runtime, batch 64) | 1234.6 |" in card
        assert "| host | Test CPU 9000, 2 threads |" in card
        card = write_card(run / "bilstm_kd", export / "bilstm_kd").read_text()
        assert "| documents/s (ONNX Runtime, batch 64) | not measured |" in card
    finally:
        (run / "inference.json").unlink()
