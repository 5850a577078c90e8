"""Text datasets: one ``TextDataModule`` subclass per source (``distill.data.datamodule``)."""
