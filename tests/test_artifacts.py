"""Committed artefacts stay usable: the full-corpus teacher caches match the real corpus, and the
committed report regenerates from the committed run with the committed numbers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from conftest import CONFIG_DIR, REAL_ARCHIVE, ROOT
from distill.cli.config import load_splits, teacher_spec
from distill.cli.runners import signature_of
from distill.cli.report import report as build_report
from distill.logit_store import LogitStore

CACHE = ROOT / "benchmarks" / "artifacts" / "newsgroups20" / "teacher_logits.npz"
RESULTS = ROOT / "benchmarks" / "results"


@pytest.mark.slow
@pytest.mark.skipif(not (REAL_ARCHIVE.is_file() and CACHE.is_file()), reason="needs the real archive and cache")
def test_committed_newsgroups20_cache_matches_the_corpus(tmp_path: Path) -> None:
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose("train", overrides=["experiment=newsgroups20", f"data.archive={REAL_ARCHIVE}",
                                          f"paths.output_dir={tmp_path}", f"paths.root_dir={ROOT}"])
    splits = load_splits(cfg)
    for logits in (cfg.teacher.logits, cfg.ensemble_logits):
        cfg.teacher.logits = logits
        LogitStore.load(logits).verify(splits, teacher_spec(cfg))
    assert {name: len(corpus) for name, corpus in splits.items()} == {"train": 10182, "val": 1132, "test": 7532}


def test_committed_teacher_store_is_reused_by_the_pipelines_teacher_stage(tmp_path: Path) -> None:
    """Its recorded signature is the newsgroups20 teacher stage's: a config change that alters what the
    teacher computes would re-train it (47 minutes here), so it must show up here first."""
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose("train", overrides=["experiment=newsgroups20", "model=teacher_minilm",
                                          f"paths.output_dir={tmp_path / 'teacher'}"])
    store = LogitStore.load(CACHE)
    assert store.source["kind"] == "teacher" and store.source["signature"] == signature_of(cfg)


@pytest.mark.slow
@pytest.mark.skipif(not REAL_ARCHIVE.is_file(), reason="needs the real archive")
def test_committed_report_regenerates_with_the_committed_numbers(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(ROOT)  # the run's config names the archive relative to the repository
    report = build_report(RESULTS / "newsgroups20" / "run", None, tmp_path)
    committed = json.loads((RESULTS / "newsgroups20.json").read_text())["models"]
    assert set(report["summary"]) == set(committed)
    for name, row in report["summary"].items():
        assert row["test_acc"] == pytest.approx(committed[name]["test_acc"])
        assert row["agreement"] == pytest.approx(committed[name]["agreement"])
