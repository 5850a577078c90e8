"""Every export carries a model card whose numbers are the run's records, and exporting is quiet."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import SERVE_BILSTM, pipeline_shaped_run
from distill.atomic import write_text
from distill.model_card import write_card
from distill.serving.size import preprocessing_files, size_on_disk_mb

STAGES = {"logistic": ["model=logistic", "distill=none"], "bilstm": [*SERVE_BILSTM, "distill=none"]}
NOISE = ("torchvision is not installed", "TorchScript", "can cause an error", "LeafSpec", "Attribute type is ambiguous",
         "will not be used, since it shares", "Warning")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, corpus_archive: Path) -> Path:
    return pipeline_shaped_run(tmp_path_factory.mktemp("card"), corpus_archive, STAGES, "trainer.max_epochs=1")


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


def test_export_prints_no_third_party_warnings(exported) -> None:
    _, done = exported
    assert [noise for noise in NOISE if noise in done.stderr] == [], done.stderr[-3000:]
    assert done.stdout.count("[export]") == len(STAGES)


@pytest.mark.parametrize("stage", list(STAGES))
def test_the_card_holds_the_runs_numbers(exported, run: Path, stage: str) -> None:
    export, _ = exported
    card = (export / stage / "README.md").read_text()
    metrics = json.loads((run / stage / "metrics.json").read_text())["metrics"]
    manifest = json.loads((export / stage / "manifest.json").read_text())
    front = front_matter(card)
    assert front["license"] and front["pipeline_tag"] == "text-classification"
    values = {item["name"]: item["value"] for item in front["model-index"][0]["results"][0]["metrics"]}
    assert values == {"val accuracy": metrics["val/acc_best"], "test accuracy": metrics["test/acc"]}
    assert f"| val accuracy | {metrics['val/acc_best']:.4f} |" in card
    assert f"| test accuracy | {metrics['test/acc']:.4f} |" in card
    assert manifest["params"] == metrics["params"] and f"| parameters | {int(metrics['params'])} |" in card
    size = size_on_disk_mb(export / stage / "model.onnx", *preprocessing_files(export / stage))
    assert f"| size on disk (model.onnx and preprocessing) | {size:.2f} MB |" in card
    assert "| documents/s (ONNX Runtime, batch 64) | not measured |" in card
    assert "headers, signature footers and quoted replies are stripped" in card
    assert "It learnt from the labels only (no teacher)." in card
    assert 'load("' + stage + '")' in card and "onnxruntime.InferenceSession" in card


def test_the_card_takes_documents_per_second_from_the_runs_timing(exported, run: Path) -> None:
    export, _ = exported
    sha = json.loads((export / "logistic" / "manifest.json").read_text())["checkpoint_sha256"]
    record = {"model": "logistic", "runtime": "onnxruntime", "checkpoint_sha256": sha, "throughput_docs_s": 1234.56,
              "latency_ms_p50": 0.1}
    stale = {**record, "model": "bilstm", "checkpoint_sha256": "0" * 64}  # timed an earlier checkpoint
    write_text(run / "inference.json", json.dumps({"machine": {"cpu": "Test CPU 9000", "threads": 2},
                                                   "records": [record, stale]}))
    try:
        card = write_card(run / "logistic", export / "logistic").read_text()
        assert "| documents/s (ONNX Runtime, batch 64) | 1234.6 |" in card
        assert "| host | Test CPU 9000, 2 threads |" in card
        card = write_card(run / "bilstm", export / "bilstm").read_text()
        assert "| documents/s (ONNX Runtime, batch 64) | not measured |" in card
    finally:
        (run / "inference.json").unlink()

