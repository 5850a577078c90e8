"""A callback for the DDP test: teacher logits there encode the example id, so every rank can
check in every step that its soft labels belong to its examples."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import torch


class TeacherLogitsMatchIds(L.Callback):
    def __init__(self, report_dir: str) -> None:
        self.report_dir = Path(report_dir)
        self.checked = 0

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch, batch_idx: int) -> None:
        encoded = batch["teacher_logits"][:, 0]
        if not torch.equal(encoded, batch["ids"].to(encoded.dtype)):
            raise AssertionError(f"rank {trainer.global_rank}: teacher logits do not belong to the batch's ids")
        self.checked += len(batch["ids"])

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.report_dir.mkdir(parents=True, exist_ok=True)
        (self.report_dir / f"rank{trainer.global_rank}.txt").write_text(str(self.checked))
