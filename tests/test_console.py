"""What a user sees: errors in two lines with the fix, the local config, a quiet stage (--help: test_help)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from conftest import CONFIG_DIR, ROOT


def command(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def short_error(done: subprocess.CompletedProcess) -> list[str]:
    """The lines of a user error: exit status 2, no traceback, at most three lines."""
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr[-2000:]
    assert "Traceback" not in done.stderr and len(lines) <= 3, done.stderr
    return lines


@pytest.mark.parametrize("module", ["distill.report", "distill.export"])
def test_a_missing_run_folder_is_two_lines_with_a_usage_line(module: str, tmp_path: Path) -> None:
    lines = short_error(command("-m", module, str(tmp_path / "nonexistent")))
    assert lines[0].startswith("usage: python -m " + module)
    assert "nonexistent" in lines[-1] and "logs/" in lines[-1]  # what to give instead


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    done = command("-m", "distill.export", str(tmp_path / "nonexistent"), "--debug")
    assert done.returncode != 0 and "Traceback" in done.stderr


@pytest.mark.parametrize("override, says", [
    ("data.archive=/nonexistent/20news.tar.gz", "data.archive=/nonexistent/20news.tar.gz does not exist"),
    ("distill.temperature=0", "distill.temperature (start) and distill.temperature_end (end)"),
    ("teacher.logits=README.md", "README.md is not a logit store"),
])
def test_train_user_errors_name_the_problem_and_the_fix(
    override: str, says: str, tmp_path: Path, corpus_archive: Path
) -> None:
    done = command("train.py", "model=logistic", "distill=kl", f"data.archive={corpus_archive}", override,
                   f"hydra.run.dir={tmp_path / 'run'}")
    lines = short_error(done)
    assert says in lines[0] and str(tmp_path / "run") in lines[-1]
    assert '"status": "failed"' in (tmp_path / "run" / "metrics.json").read_text()


def test_a_local_config_in_the_working_folder_is_picked_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """./conf/local/default.yaml (untracked) holds data.archive once for every command; ./conf
    also adds configs of its own (the hydra_plugins search-path plugin)."""
    (tmp_path / "conf" / "local").mkdir(parents=True)
    (tmp_path / "conf" / "local" / "default.yaml").write_text("# @package _global_\ndata:\n  archive: /data/20news-bydate.tar.gz\n")
    (tmp_path / "conf" / "model").mkdir()
    (tmp_path / "conf" / "model" / "mine.yaml").write_text("defaults:\n  - logistic\n  - _self_\nbatch_size: 7\n")
    monkeypatch.chdir(tmp_path)
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        assert compose("train").data.archive == "/data/20news-bydate.tar.gz"
        assert compose("train", overrides=["data.archive=elsewhere.tar.gz"]).data.archive == "elsewhere.tar.gz"
        assert compose("train", overrides=["model=mine"]).model.batch_size == 7
    monkeypatch.chdir(ROOT)
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        assert compose("train").data.get("archive") != "/data/20news-bydate.tar.gz"


def test_a_stage_prints_its_results_and_no_known_noise(tmp_path: Path, corpus_archive: Path) -> None:
    done = command("train.py", "model=logistic", "distill=none", f"data.archive={corpus_archive}",
                   "trainer.max_epochs=1", "data.val_fraction=0.2", f"hydra.run.dir={tmp_path / 'run'}")
    assert done.returncode == 0, done.stderr[-2000:]
    output = done.stdout + done.stderr
    for noise in ("Tip:", "TPU available", "LeafSpec", "estimate number of stepping batches", "┏", "`Trainer.fit` stopped"):
        assert noise not in output, noise
    assert re.search(r"^logistic: val acc \d\.\d{4} \| test acc \d\.\d{4} \| \d+ s$", done.stdout, re.M)
    assert "logistic: val acc" in (tmp_path / "run" / "train.log").read_text()
