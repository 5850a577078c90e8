"""Real Hydra multiruns: a grid with failing jobs and its summary, submitit, an Optuna search.

The sweeps run as the README's does, after the quickstart: ``experiment=quickstart`` finds the
teacher's logits in the cache the quickstart wrote (shrunk here to the synthetic corpus)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, in_process, make_cfg
from distill import sweep_report
from distill.cli.train import main
from distill.cli.runners import run


QUICKSTART = ["experiment=quickstart", "data.categories=[comp.graphics,rec.autos,sci.space]",
              "data.labelled_fraction=1.0", "teacher.max_length=32"]


@pytest.fixture(scope="module")
def tiny_cache(tmp_path_factory: pytest.TempPathFactory, corpus_archive: Path) -> Path:
    """The cache folder after a (tiny) quickstart: its teacher's logit store."""
    tmp = tmp_path_factory.mktemp("sweep_teacher")
    cfg = make_cfg(tmp, corpus_archive, [*QUICKSTART, "model=teacher_minilm", "trainer.max_epochs=2"])
    run(cfg)
    assert Path(cfg.teacher.logits) == tmp / "cache" / "quickstart" / "teacher_logits.npz"
    return tmp / "cache"


def test_multirun_sweep_then_summary(
    tiny_cache: Path, corpus_archive: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A grid with failing jobs exits 2 and names them; its summary ranks the others and draws the
    (T, alpha) heatmap, and says why there is none for jobs of a single temperature."""
    sweep_dir = tmp_path / "sweep"
    command = [
        sys.executable, "train.py", "-m", *QUICKSTART, "model=logistic", "distill.temperature=1,4",
        "distill.alpha=0.2,0.8,1.5",  # 1.5 is invalid: those two jobs fail, the others must finish
        f"data.archive={corpus_archive}", f"paths.cache_dir={tiny_cache}",
        "data.val_fraction=0.2", "trainer.accelerator=cpu", "trainer.max_epochs=2",
        "++trainer.enable_progress_bar=false", "++trainer.enable_model_summary=false",
        "++callbacks.progress_bar=null", f"hydra.sweep.dir={sweep_dir}",
    ]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600,
                            env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert result.returncode == 2, "a sweep with failed jobs must not exit 0"
    said = result.stderr.strip().splitlines()
    assert "Traceback" not in result.stderr and len(said) == 4, result.stderr[-3000:]  # two lines per failed job
    assert said[0] == said[2] == "error: distill.alpha must be in [0, 1], got 1.5"
    assert said[1] == f"(the failed job's folder: {sweep_dir / '2'})"
    assert result.stdout.strip().splitlines()[-3:] == [
        "failed jobs: 2, 5 (the others finished)", f"sweep folder: {sweep_dir}",
        f"its summary: python -m distill.sweep_report {sweep_dir}"]

    best = sweep_report.main([str(sweep_dir)])
    runs = sweep_report.collect_runs(sweep_dir)
    assert len(runs) == 6
    assert sorted(run["status"] for run in runs) == ["completed"] * 4 + ["failed"] * 2
    completed = [run for run in runs if run["status"] == "completed"]
    assert best["metrics"]["val/acc_best"] == max(run["metrics"]["val/acc_best"] for run in completed)
    summary = (sweep_dir / "sweep_summary.md").read_text()
    assert summary.count("failed") >= 2 and "distill.alpha must be in [0, 1]" in summary
    assert (sweep_dir / "sweep_summary.csv").read_text().count("\n") == 7
    assert (sweep_dir / "heatmap.png").stat().st_size > 1000

    single = tmp_path / "single"  # the jobs of one temperature, failed one included, as a sweep of their own
    for job in runs:
        if "distill.temperature=4" in job["overrides"]:
            shutil.copytree(sweep_dir / job["job"], single / job["job"])
    capsys.readouterr()
    sweep_report.main([str(single)])
    said = capsys.readouterr().out
    assert "no heatmap: the completed jobs have a single temperature value (4);" in said, said
    assert not (single / "heatmap.png").exists()


@pytest.mark.slow  # two submitit worker processes: over a minute on 2 cores
def test_submitit_local_launcher_runs_a_two_job_sweep(tiny_cache: Path, corpus_archive: Path, tmp_path: Path) -> None:
    """`hydra/launcher=submitit_local`: the local stand-in for `hydra/launcher=slurm`."""
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    sweep_dir = tmp_path / "sweep"
    command = [
        sys.executable, "train.py", "-m", "hydra/launcher=submitit_local", "hydra.launcher.timeout_min=10",
        *QUICKSTART, "model=logistic", "distill.alpha=0.3,0.7", f"data.archive={corpus_archive}",
        f"paths.cache_dir={tiny_cache}", "data.val_fraction=0.2",
        "trainer.accelerator=cpu", "trainer.max_epochs=1", "++trainer.enable_progress_bar=false",
        "++callbacks.progress_bar=null", f"hydra.sweep.dir={sweep_dir}",
    ]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    runs = sweep_report.collect_runs(sweep_dir)
    assert [run["status"] for run in runs] == ["completed", "completed"]
    assert sorted(run["distill"]["alpha"] for run in runs) == [0.3, 0.7]


def test_optuna_search_writes_the_best_trial(tiny_cache: Path, corpus_archive: Path, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    """`hparams_search=distill_optuna`: the sweeper gets each run's val/acc_best and keeps the best
    (train.py's entry point in this process: the grid above is the real process)."""
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper")
    sweep_dir = tmp_path / "sweep"
    monkeypatch.chdir(ROOT)
    result = in_process(main, [
        "train.py", "-m", "hparams_search=distill_optuna", "hydra.sweeper.n_trials=3",
        *QUICKSTART, "model=logistic", f"data.archive={corpus_archive}", f"paths.cache_dir={tiny_cache}",
        "data.val_fraction=0.2", "trainer.accelerator=cpu", "trainer.max_epochs=2",
        "++trainer.enable_progress_bar=false", "++trainer.enable_model_summary=false",
        "++callbacks.progress_bar=null", f"hydra.sweep.dir={sweep_dir}",
    ], monkeypatch, capsys)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-2:] == [  # a completed sweep ends with its folder
        f"sweep folder: {sweep_dir}", f"its summary: python -m distill.sweep_report {sweep_dir}"]

    runs = sweep_report.collect_runs(sweep_dir)
    assert [run["status"] for run in runs] == ["completed"] * 3
    results = yaml.safe_load((sweep_dir / "optimization_results.yaml").read_text())
    assert set(results["best_params"]) == {"distill.temperature", "distill.alpha", "model.module.lr"}
    assert results["best_value"] == pytest.approx(max(run["metrics"]["val/acc_best"] for run in runs))
    best_overrides = {f"{name}={value}" for name, value in results["best_params"].items()}
    best_runs = [run for run in runs if run["metrics"]["val/acc_best"] == pytest.approx(results["best_value"])]
    assert any(best_overrides <= set(run["overrides"]) for run in best_runs)  # ties: any best trial


def test_a_sweep_without_the_teacher_logits_is_two_lines(corpus_archive: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture) -> None:
    """The README's sweep before the quickstart (or with another cache): no store to distil from. In this
    process: the grid above shows the same two lines per failed job from a real one."""
    monkeypatch.chdir(ROOT)
    result = in_process(main, [
        "train.py", "-m", *QUICKSTART, "model=logistic", "distill.alpha=0.5",
        f"data.archive={corpus_archive}", f"paths.cache_dir={tmp_path / 'empty'}",
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
    ], monkeypatch, capsys)
    said = result.stderr.strip().splitlines()
    assert result.returncode == 2 and "Traceback" not in result.stderr and len(said) == 2, result.stderr[-3000:]
    assert said[0].startswith("error: ") and "empty/quickstart/teacher_logits.npz" in said[0]
    assert said[1] == f"(the failed job's folder: {tmp_path / 'sweep' / '0'})"
    assert result.stdout.strip().splitlines()[-3] == "failed jobs: 0 (the others finished)"


def test_a_bad_sweep_folder_is_two_lines(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "distill.sweep_report", str(tmp_path / "nowhere")],
                          capture_output=True, text=True, timeout=300)
    said = done.stderr.strip().splitlines()
    assert done.returncode == 2 and "Traceback" not in done.stderr and len(said) == 2, done.stderr
    assert said[0].startswith("usage: python -m distill.sweep_report") and "nowhere holds no job folders" in said[1]


def test_a_sweep_starts_without_the_failures_of_an_earlier_sweep_in_the_same_process(tmp_path: Path) -> None:
    """Jobs failed by the in-process launcher are remembered by name ("0", "1", ...): a second sweep run
    from the same Python process (a notebook, these tests) must not report the first one's."""
    from omegaconf import OmegaConf

    from distill.cli.hydra_errors import FAILED_JOBS, SweepFolder, failed_jobs

    FAILED_JOBS.append("0")
    SweepFolder().on_multirun_start(OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path)}}}))
    assert failed_jobs(tmp_path) == []
