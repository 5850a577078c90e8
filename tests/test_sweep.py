"""Real Hydra multiruns: a grid with one failing job and its summary, submitit, an Optuna search."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, make_cfg
from distill import sweep_report
from distill.cli.runners import run


@pytest.fixture(scope="module")
def tiny_cache(tmp_path_factory: pytest.TempPathFactory, corpus_archive: Path) -> Path:
    tmp = tmp_path_factory.mktemp("sweep_teacher")
    cfg = make_cfg(tmp, corpus_archive, ["model=teacher_minilm", "trainer.max_epochs=2"])
    run(cfg)
    return Path(cfg.teacher.logits)


def test_multirun_sweep_then_summary(tiny_cache: Path, corpus_archive: Path, tmp_path: Path) -> None:
    sweep_dir = tmp_path / "sweep"
    command = [
        sys.executable, "train.py", "-m", "model=logistic", "distill.temperature=1,4",
        "distill.alpha=0.2,0.8,1.5",  # 1.5 is invalid: those two jobs fail, the others must finish
        f"data.archive={corpus_archive}", f"teacher.logits={tiny_cache}", "teacher.max_length=32",
        "data.val_fraction=0.2", "trainer.accelerator=cpu", "trainer.max_epochs=2",
        "++trainer.enable_progress_bar=false", "++trainer.enable_model_summary=false",
        "++callbacks.progress_bar=null", f"hydra.sweep.dir={sweep_dir}",
    ]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600,
                            env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert result.returncode != 0, "a sweep with failed jobs must not exit 0"
    assert "distill.alpha must be in [0, 1]" in result.stderr

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


@pytest.mark.slow  # two submitit worker processes: over a minute on 2 cores
def test_submitit_local_launcher_runs_a_two_job_sweep(tiny_cache: Path, corpus_archive: Path, tmp_path: Path) -> None:
    """`hydra/launcher=submitit_local`: the local stand-in for `hydra/launcher=slurm`."""
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    sweep_dir = tmp_path / "sweep"
    command = [
        sys.executable, "train.py", "-m", "hydra/launcher=submitit_local", "hydra.launcher.timeout_min=10",
        "model=logistic", "distill.alpha=0.3,0.7", f"data.archive={corpus_archive}",
        f"teacher.logits={tiny_cache}", "teacher.max_length=32", "data.val_fraction=0.2",
        "trainer.accelerator=cpu", "trainer.max_epochs=1", "++trainer.enable_progress_bar=false",
        "++callbacks.progress_bar=null", f"hydra.sweep.dir={sweep_dir}",
    ]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    runs = sweep_report.collect_runs(sweep_dir)
    assert [run["status"] for run in runs] == ["completed", "completed"]
    assert sorted(run["distill"]["alpha"] for run in runs) == [0.3, 0.7]


def test_optuna_search_writes_the_best_trial(tiny_cache: Path, corpus_archive: Path, tmp_path: Path) -> None:
    """`hparams_search=distill_optuna`: the sweeper gets each run's val/acc_best and keeps the best."""
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper")
    sweep_dir = tmp_path / "sweep"
    command = [
        sys.executable, "train.py", "-m", "hparams_search=distill_optuna", "hydra.sweeper.n_trials=3",
        "model=logistic", f"data.archive={corpus_archive}", f"teacher.logits={tiny_cache}",
        "teacher.max_length=32", "data.val_fraction=0.2", "trainer.accelerator=cpu", "trainer.max_epochs=2",
        "++trainer.enable_progress_bar=false", "++trainer.enable_model_summary=false",
        "++callbacks.progress_bar=null", f"hydra.sweep.dir={sweep_dir}",
    ]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600,
                            env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert result.returncode == 0, result.stderr[-2000:]

    runs = sweep_report.collect_runs(sweep_dir)
    assert [run["status"] for run in runs] == ["completed"] * 3
    results = yaml.safe_load((sweep_dir / "optimization_results.yaml").read_text())
    assert set(results["best_params"]) == {"distill.temperature", "distill.alpha", "model.module.lr"}
    assert results["best_value"] == pytest.approx(max(run["metrics"]["val/acc_best"] for run in runs))
    best_overrides = {f"{name}={value}" for name, value in results["best_params"].items()}
    best_runs = [run for run in runs if run["metrics"]["val/acc_best"] == pytest.approx(results["best_value"])]
    assert any(best_overrides <= set(run["overrides"]) for run in best_runs)  # ties: any best trial
