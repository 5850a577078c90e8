"""The labelling benchmark on a tiny classifier and the synthetic corpus: one record per runtime."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import benchmark_module
from hf_models import save_tiny_classifier


def test_the_benchmark_times_each_runtime_and_plans_ten_million_documents(
        tmp_path: Path, corpus_archive: Path, capsys: pytest.CaptureFixture) -> None:
    bench = benchmark_module("labelling")
    model = save_tiny_classifier(tmp_path / "model")
    out = tmp_path / "labelling.json"
    bench.main(["--model", str(model), "--archive", str(corpus_archive), "--docs", "10", "--threads", "1",
                "--batch-size", "4", "--int8", "--out", str(out)])
    result = json.loads(out.read_text())
    assert [record["runtime"] for record in result["records"]] == ["pytorch", "onnxruntime", "onnxruntime-int8"]
    assert result["settings"]["docs"] == 10 and result["model"]["head"] == "the folder's"
    assert result["model"]["max_length"] == 64  # the tiny model's positions (its tokenizer sets no limit)
    onnx = result["records"][1]
    assert onnx["max_abs_diff_vs_pytorch"] < 1e-4 and onnx["argmax_agreement_vs_pytorch"] == 1.0
    for record in result["records"]:
        assert record["hours_for_10M_docs"] == pytest.approx(1e7 / record["docs_per_s"] / 3600)
        assert record["docs_per_s"] == pytest.approx(10 / record["seconds"])
    assert "| onnxruntime-int8 |" in capsys.readouterr().out
