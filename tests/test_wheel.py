"""Installed from a wheel, outside this repository, the commands find their configs, layer a
user's own configs on top (``--config-dir`` and ``./conf``) and write under the working folder."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import ROOT, TINY_TEACHER

TINY_TEACHER_YAML = f"""\
# a user's own model, given with --config-dir: the offline teacher, shrunk and random
defaults:
  - teacher_minilm
  - _self_
max_epochs: 1
module:
  lr: 5.0e-3
  net:
    pretrained: null
    config: {json.dumps(TINY_TEACHER)}
"""
TINY_EXPERIMENT_YAML = """\
# @package _global_
# a user's own experiment, found in ./conf of the working folder
teacher:
  max_length: 32
data:
  val_fraction: 0.2
trainer:
  accelerator: cpu
  enable_progress_bar: false
  enable_model_summary: false
callbacks:
  progress_bar: null
pipeline:
  stages:
    - teacher: [model=tiny_teacher]
    - logistic_kd: [model=logistic, distill=kl, model.max_epochs=1]
"""


def build_and_install(tmp: Path) -> Path:
    """The wheel of a copy of the sources (so no build/ lands in the checkout), installed with --no-deps."""
    source = tmp / "source"
    shutil.copytree(ROOT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp / "dist"), str(source)],
                   check=True, capture_output=True, timeout=300)
    (wheel,) = (tmp / "dist").glob("distill-*.whl")
    site = tmp / "site"
    subprocess.run([*pip, "install", "--no-deps", "--target", str(site), str(wheel)],
                   check=True, capture_output=True, timeout=300)
    return site


def test_an_installed_wheel_trains_exports_and_reports_from_any_folder(tmp_path: Path, corpus_archive: Path) -> None:
    site = build_and_install(tmp_path)
    work = tmp_path / "work"
    (work / "conf" / "local").mkdir(parents=True)
    (work / "conf" / "local" / "default.yaml").write_text(
        f"# @package _global_\ndata:\n  archive: {corpus_archive}\n")  # the untracked per-machine config
    (work / "conf" / "experiment").mkdir()
    (work / "conf" / "experiment" / "tiny.yaml").write_text(TINY_EXPERIMENT_YAML)
    (tmp_path / "mine" / "model").mkdir(parents=True)
    (tmp_path / "mine" / "model" / "tiny_teacher.yaml").write_text(TINY_TEACHER_YAML)
    env = {**os.environ, "PYTHONPATH": str(site), "PYTHONWARNINGS": "ignore"}

    def distill(script: str, *args: str) -> subprocess.CompletedProcess:
        done = subprocess.run([sys.executable, str(site / "bin" / script), *args], cwd=work, env=env,
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, (script, done.stdout[-2000:], done.stderr[-3000:])
        return done

    where = subprocess.run([sys.executable, "-c", "import distill; print(distill.__file__)"],
                           cwd=work, env=env, capture_output=True, text=True, check=True)
    assert Path(where.stdout.strip()).is_relative_to(site), "the test must run the installed wheel"

    taught = distill("distill-train", "--config-dir", str(tmp_path / "mine"), "experiment=tiny", "model=tiny_teacher")
    assert "teacher: val acc" in taught.stdout and not taught.stderr.strip()  # quiet by default
    assert len(list((work / "logs" / "train").iterdir())) == 1  # logs under the working folder
    assert (work / "cache" / "teacher_logits.npz").is_file()  # and caches

    done = distill("distill-pipeline", "--config-dir", str(tmp_path / "mine"), "experiment=tiny",
                   "hydra.run.dir=runs/tiny")
    run = work / "runs" / "tiny"
    comparison = json.loads((run / "comparison.json").read_text())
    assert set(comparison) == {"teacher", "logistic_kd"} and comparison["teacher"]["skipped"]  # the store above
    assert f"run folder: {run}" in done.stdout
    assert not [path for path in site.rglob("*") if path.suffix in (".npz", ".ckpt", ".log", ".onnx")]

    distill("distill-export", "runs/tiny")
    assert (run / "export" / "logistic_kd" / "model.onnx").is_file()
    distill("distill-report", "runs/tiny")
    assert "logistic_kd" in (run / "report" / "report.md").read_text()

