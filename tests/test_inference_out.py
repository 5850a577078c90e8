"""The inference benchmark and the report's hint write beside the run, never over committed results."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import ROOT, benchmark_module
from distill.report.render import render_markdown

COMMITTED = ROOT / "benchmarks" / "results" / "inference.json"


def test_inference_writes_into_the_run_folder_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inference = benchmark_module("inference")
    committed = COMMITTED.read_bytes() if COMMITTED.is_file() else None
    result = {"machine": {"cpu": "x"}, "run": str(tmp_path), "settings": {}, "records": []}
    monkeypatch.setattr(inference, "benchmark", lambda *args: result)
    inference.main([str(tmp_path)])
    assert json.loads((tmp_path / "inference.json").read_text()) == result
    assert (COMMITTED.read_bytes() if COMMITTED.is_file() else None) == committed


def test_the_reports_hint_names_the_runs_own_file() -> None:
    report = {"run_dir": "logs/pipeline/x", "reference_teacher": None, "inference": None, "split": "test",
              "summary": {}, "left_out": [], "dark_knowledge": [], "per_class": {}, "settings": {}}
    text = render_markdown(report, {})
    assert "`python benchmarks/inference.py logs/pipeline/x`" in text
    assert "--inference logs/pipeline/x/inference.json`" in text and "benchmarks/results" not in text
