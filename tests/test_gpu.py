"""GPU runs: skipped without CUDA, run where a GPU is lent (trainer=gpu, trainer=ddp)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import ROOT, make_cfg
from distill.cli.runners import run
from distill.logit_store import LogitStore
from distill.module import ClassifierModule

needs_gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
needs_two_gpus = pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs 2 CUDA GPUs")


@needs_gpu
@pytest.mark.parametrize("model", ["teacher_minilm", "bilstm", "logistic"])
def test_one_gpu_bf16_trains_every_model(
    model: str, tmp_path: Path, corpus_archive: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = make_cfg(tmp_path, corpus_archive, [f"model={model}", "distill=none", "trainer=gpu",
                                              "trainer.max_epochs=3", "model.features.min_df=1"
                                              if model == "logistic" else "model.batch_size=8"])
    ran_in = set()  # (device, autocast dtype or None) of every forward pass
    forward = ClassifierModule.forward

    def recording(self: ClassifierModule, **inputs: torch.Tensor) -> torch.Tensor:
        autocast = torch.is_autocast_enabled("cuda") and torch.get_autocast_dtype("cuda")
        ran_in.add((self.device.type, autocast or None))
        return forward(self, **inputs)

    monkeypatch.setattr(ClassifierModule, "forward", recording)
    metrics = run(cfg)
    assert metrics["test/acc"] > 0.5  # three well-separated synthetic classes
    assert ran_in == {("cuda", torch.bfloat16)}  # training, evaluation and the stored logits, all on bf16
    assert LogitStore.load(Path(cfg.paths.output_dir) / "logits.npz").source["precision"] == "bf16-mixed"


@needs_two_gpus
def test_ddp_on_every_gpu_writes_one_run(tmp_path: Path, corpus_archive: Path) -> None:
    teacher = make_cfg(tmp_path / "teacher", corpus_archive, ["model=teacher_minilm", "trainer.max_epochs=2"])
    run(teacher)
    run_dir = tmp_path / "run"
    command = [
        sys.executable, "train.py", "model=bilstm", "distill=kl", "trainer=ddp", "trainer.max_epochs=2",
        f"data.archive={corpus_archive}", f"teacher.logits={teacher.teacher.logits}", "teacher.max_length=32",
        "data.val_fraction=0.2", "model.batch_size=8", "++trainer.enable_progress_bar=false",
        "++callbacks.progress_bar=null", f"hydra.run.dir={run_dir}", f"paths.log_dir={tmp_path / 'logs'}",
    ]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (run_dir / "metrics.json").is_file() and not (tmp_path / "logs").exists()
    assert len(list((run_dir / "checkpoints").glob("*.ckpt"))) == 1
