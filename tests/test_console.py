"""What a user sees: errors in two lines with the fix, the local config, a quiet stage (--help: test_help).

One real process each shows what only a process shows (exit status and stderr of a console
command, import-time noise); the other cases run the same entry points in this process."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

import distill.cli.train
import distill.export
from conftest import CONFIG_DIR, ROOT, in_process
from distill.errors import UserError

TRAIN_USER_ERRORS = [
    ("data.archive=/nonexistent/20news.tar.gz", "data.archive=/nonexistent/20news.tar.gz does not exist"),
    ("distill.temperature=0", "distill.temperature (start) and distill.temperature_end (end)"),
    ("teacher.logits=README.md", "README.md is not a logit store"),
]


def command(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def short_error(returncode: int, stderr: str) -> list[str]:
    """The lines of a user error: exit status 2, no traceback, at most three lines."""
    lines = stderr.strip().splitlines()
    assert returncode == 2, stderr[-2000:]
    assert "Traceback" not in stderr and len(lines) <= 3, stderr
    return lines


def names_the_folder_to_give(module: str, lines: list[str]) -> None:
    assert lines[0].startswith("usage: python -m " + module)
    assert "nonexistent" in lines[-1] and "logs/" in lines[-1]  # what to give instead


def test_a_missing_run_folder_is_two_lines_with_a_usage_line(tmp_path: Path) -> None:
    """A real process: the exit status and stderr of a console command (distill-report imports no Lightning)."""
    done = command("-m", "distill.report", str(tmp_path / "nonexistent"))
    names_the_folder_to_give("distill.report", short_error(done.returncode, done.stderr))


def test_export_names_the_folder_to_give(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """The same short error from distill.export, in this process."""
    with pytest.raises(SystemExit) as exit:
        distill.export.main([str(tmp_path / "nonexistent")])
    names_the_folder_to_give("distill.export", short_error(exit.value.code, capsys.readouterr().err))


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    """--debug lets the UserError itself through (with its traceback) instead of exiting 2."""
    with pytest.raises(UserError, match="nonexistent is not a folder"):
        distill.export.main([str(tmp_path / "nonexistent"), "--debug"])


@pytest.fixture
def train(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> Callable[..., tuple[int, str]]:
    """train.py's hydra app in this process (``conftest.in_process``), from the repository root as the
    command runs: its exit status and stderr."""
    monkeypatch.chdir(ROOT)

    def run(*overrides: str) -> tuple[int, str]:
        done = in_process(distill.cli.train.main, ["train.py", *overrides], monkeypatch, capsys)
        return done.returncode, done.stderr

    return run


@pytest.mark.parametrize("override, says", TRAIN_USER_ERRORS)
def test_train_user_errors_name_the_problem_and_the_fix(
    override: str, says: str, tmp_path: Path, corpus_archive: Path, train: Callable[..., tuple[int, str]]
) -> None:
    lines = short_error(*train("model=logistic", "distill=kl", f"data.archive={corpus_archive}", override,
                               f"hydra.run.dir={tmp_path / 'run'}"))
    assert says in lines[0] and str(tmp_path / "run") in lines[-1]
    assert '"status": "failed"' in (tmp_path / "run" / "metrics.json").read_text()


def test_a_train_user_error_is_two_lines_in_a_real_process(tmp_path: Path) -> None:
    """What the terminal shows: the message and the run folder, nothing Lightning or hydra adds."""
    override, says = TRAIN_USER_ERRORS[0]
    done = command("train.py", "model=logistic", "distill=kl", override, f"hydra.run.dir={tmp_path / 'run'}")
    lines = short_error(done.returncode, done.stderr)
    assert len(lines) == 2 and says in lines[0] and str(tmp_path / "run") in lines[1]


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
