"""Committed artefacts stay usable: the full-corpus teacher cache matches the real corpus."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from conftest import CONFIG_DIR, REAL_ARCHIVE, ROOT
from distill.cache import TeacherLogits

CACHE = ROOT / "benchmarks" / "artifacts" / "newsgroups20" / "teacher_logits.npz"


@pytest.mark.slow
@pytest.mark.skipif(not (REAL_ARCHIVE.is_file() and CACHE.is_file()), reason="needs the real archive and cache")
def test_committed_newsgroups20_cache_matches_the_corpus(tmp_path: Path) -> None:
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose("train", overrides=["experiment=newsgroups20", f"data.archive={REAL_ARCHIVE}",
                                          f"paths.output_dir={tmp_path}", f"paths.root_dir={ROOT}"])
    splits = instantiate(cfg.data, features=None).load_splits()
    cache = TeacherLogits.load(cfg.teacher.logits)
    cache.verify(splits, instantiate(cfg.teacher))
    assert {name: len(corpus) for name, corpus in splits.items()} == {"train": 10182, "val": 1132, "test": 7532}
