"""The one LightningModule: any net, trained by ``DistillationLoss``, with shared metrics."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import lightning as L
import numpy as np
import torch
from torch import nn
from torch.optim.lr_scheduler import LambdaLR
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score

from distill.data.datamodule import TextDataModule
from distill.loss import DistillationLoss
from distill.nets import build_net

STAGES = ("train", "val", "test")


class ClassifierModule(L.LightningModule):
    """A text classifier: ``net`` (a spec, see ``distill.nets.build_net``) trained by ``loss``.

    The net is given as its spec, not as a built module, and the spec is saved in the
    checkpoint's hyper-parameters with ``num_classes`` and ``vocab_size``, so
    ``ClassifierModule.load_from_checkpoint(path)`` rebuilds it with no other argument.
    ``self.net(**batch["inputs"])`` returns (B, C) logits. Batches that carry
    ``teacher_logits`` (students reading a logit store) get the soft term and an agreement
    metric; the others train on hard labels only. Metrics are logged as ``{stage}/{name}``.

    AdamW with linear warm-up over ``warmup_ratio`` of the steps, then linear decay to 0
    (``decay=False`` keeps the rate constant after warm-up). A data-dependent start of the net
    is a callback's job (``distill.naive_bayes_start``), so this module knows no particular net.
    """

    def __init__(
        self,
        net: Mapping[str, Any],
        num_classes: int,
        vocab_size: int | None = None,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        warmup_ratio: float = 0.0,
        decay: bool = True,
        loss: DistillationLoss | None = None,
    ) -> None:
        super().__init__()
        # The loss is not a hyper-parameter of the saved model: a reloaded module predicts,
        # and training settings live in the run's config.
        self.save_hyperparameters(ignore=["loss"])
        self.num_classes = num_classes
        self.loss_fn = loss if loss is not None else DistillationLoss(alpha=0.0)
        self.net = build_net(net, num_classes=num_classes, vocab_size=vocab_size)
        # ModuleDict keys may not shadow nn.Module attributes such as `train`.
        self.metrics = nn.ModuleDict({f"{stage}_": self._stage_metrics(stage) for stage in STAGES})
        self.agreement = nn.ModuleDict(
            {f"{stage}_": MulticlassAccuracy(num_classes, average="micro") for stage in STAGES}
        )

    def _stage_metrics(self, stage: str) -> MetricCollection:
        return MetricCollection(
            {
                "acc": MulticlassAccuracy(self.num_classes, average="micro"),
                "f1_macro": MulticlassF1Score(self.num_classes, average="macro"),
            },
            prefix=f"{stage}/",
        )

    def forward(self, **inputs: torch.Tensor) -> torch.Tensor:
        return self.net(**inputs)

    def _step(self, batch: dict[str, Any], stage: str) -> torch.Tensor:
        logits = self(**batch["inputs"])
        teacher_logits = batch.get("teacher_logits")
        loss = self.loss_fn(logits, batch["labels"], teacher_logits)
        if stage == "train" and not torch.isfinite(loss):
            raise FloatingPointError(f"non-finite training loss at step {self.global_step}: lower model.module.lr?")
        batch_size = len(batch["labels"])
        self.log(f"{stage}/loss", loss, batch_size=batch_size, on_step=stage == "train", on_epoch=True,
                 prog_bar=stage != "test", sync_dist=stage != "train")
        labelled = batch["labels"] >= 0
        if labelled.any():
            metrics = self.metrics[f"{stage}_"]
            metrics.update(logits[labelled], batch["labels"][labelled])
            self.log_dict(metrics, batch_size=int(labelled.sum()), on_step=False, on_epoch=True,
                          prog_bar=stage == "val")
        if teacher_logits is not None:
            agreement = self.agreement[f"{stage}_"]
            agreement.update(logits.argmax(-1), teacher_logits.argmax(-1))
            self.log(f"{stage}/agreement", agreement, batch_size=batch_size, on_step=False, on_epoch=True)
        return loss

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        if batch.get("teacher_logits") is not None and self.loss_fn.uses_teacher:
            total = max(self.trainer.estimated_stepping_batches, 1)
            temperature = self.loss_fn.set_progress(self.global_step / total)
            self.log("train/temperature", temperature, on_step=True, on_epoch=False)
        return self._step(batch, "train")

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self._step(batch, "val")

    def test_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self._step(batch, "test")

    def predict_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, torch.Tensor]:
        return {"ids": batch["ids"], "logits": self(**batch["inputs"]).float()}

    def configure_optimizers(self) -> dict[str, Any]:
        decay, no_decay = [], []
        for name, parameter in self.named_parameters():
            if parameter.requires_grad:
                (no_decay if parameter.ndim < 2 or "norm" in name.lower() else decay).append(parameter)
        optimizer = torch.optim.AdamW(
            [{"params": decay, "weight_decay": self.hparams.weight_decay},
             {"params": no_decay, "weight_decay": 0.0}],
            lr=self.hparams.lr,
        )
        total = max(int(self.trainer.estimated_stepping_batches), 1)
        warmup = int(self.hparams.warmup_ratio * total)

        def factor(step: int) -> float:
            if step < warmup:
                return (step + 1) / warmup
            if not self.hparams.decay:
                return 1.0
            return max(0.0, (total - step) / max(total - warmup, 1))

        scheduler = LambdaLR(optimizer, factor)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


def predict_logits(
    trainer: L.Trainer,
    module: L.LightningModule,
    datamodule: TextDataModule,
    splits: tuple[str, ...] | None = None,
) -> dict[str, np.ndarray]:
    """The module's logits for ``splits`` (default all), aligned to each split's ids.

    A collective under DDP: every rank predicts its shard and all ranks get every row.
    """
    logits = {}
    for split in splits or tuple(datamodule.splits):
        corpus = datamodule.splits[split]
        batches = trainer.predict(module, dataloaders=datamodule.dataloader(split))
        ids = torch.cat([batch["ids"] for batch in batches]).cpu().numpy()
        values = torch.cat([batch["logits"] for batch in batches]).cpu().numpy()
        if trainer.world_size > 1:  # distributed samplers shard (and pad) the split
            shards: list = [None] * trainer.world_size
            torch.distributed.all_gather_object(shards, (ids, values))
            ids = np.concatenate([shard[0] for shard in shards])
            values = np.concatenate([shard[1] for shard in shards])
        row_of = {int(example_id): row for row, example_id in enumerate(ids)}
        missing = [int(i) for i in corpus.ids if int(i) not in row_of]
        if missing:
            raise RuntimeError(f"predictions for '{split}' lack ids {missing[:5]}...")
        logits[split] = values[[row_of[int(i)] for i in corpus.ids]]
    return logits
