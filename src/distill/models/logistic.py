"""The logistic student: multinomial logistic regression over sparse TF-IDF features."""

from __future__ import annotations

import torch
from torch import nn

from distill.loss import DistillationLoss
from distill.models.base import ClassifierModule


class SparseLinearNet(nn.Module):
    """``W x + b`` for sparse ``x`` given as EmbeddingBag bags: cost grows with non-zeros only."""

    def __init__(self, vocab_size: int, num_classes: int) -> None:
        super().__init__()
        self.weight = nn.EmbeddingBag(vocab_size, num_classes, mode="sum")
        self.bias = nn.Parameter(torch.zeros(num_classes))
        nn.init.zeros_(self.weight.weight)

    def forward(self, indices: torch.Tensor, offsets: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        return self.weight(indices, offsets, per_sample_weights=weights) + self.bias


class LogisticModule(ClassifierModule):
    """No hidden layer: what scikit-learn's LogisticRegression fits, but trainable on soft targets."""

    def __init__(
        self,
        num_classes: int,
        vocab_size: int,
        lr: float = 1e-2,
        weight_decay: float = 0.0,
        warmup_ratio: float = 0.0,
        decay: bool = True,
        loss: DistillationLoss | None = None,
    ) -> None:
        super().__init__(num_classes, lr, weight_decay, warmup_ratio, decay, loss)
        self.net = SparseLinearNet(vocab_size, num_classes)
