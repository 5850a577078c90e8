"""A data module as Lightning's Trainer drives it.

``TextDataModule`` stays plain Python, so that what only reads a run's splits (serving, the
report, the benchmarks) never imports Lightning; the fit wraps it in this ``LightningDataModule``:
``trainer.datamodule``, ``setup`` on every process, and the three loaders.
"""

from __future__ import annotations

import lightning as L
from torch.utils.data import DataLoader

from distill.data.datamodule import TextDataModule


class LightningData(L.LightningDataModule):
    def __init__(self, data: TextDataModule) -> None:
        super().__init__()
        self.data = data

    def setup(self, stage: str | None = None) -> None:
        self.data.setup(stage)

    def train_dataloader(self) -> DataLoader:
        return self.data.train_dataloader()

    def val_dataloader(self) -> DataLoader:
        return self.data.val_dataloader()

    def test_dataloader(self) -> DataLoader:
        return self.data.test_dataloader()
