"""Multinomial logistic regression over a sparse bag of features (TF-IDF)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


class BagLinearNet(nn.Module):
    """``W x + b`` for sparse ``x`` given as EmbeddingBag bags: cost grows with non-zeros only.

    No hidden layer: what scikit-learn's LogisticRegression fits, but trainable on soft targets.
    """

    def __init__(self, vocab_size: int, num_classes: int) -> None:
        super().__init__()
        self.weight = nn.EmbeddingBag(vocab_size, num_classes, mode="sum")
        self.bias = nn.Parameter(torch.zeros(num_classes))
        nn.init.zeros_(self.weight.weight)

    def forward(self, indices: torch.Tensor, offsets: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        return self.weight(indices, offsets, per_sample_weights=weights) + self.bias

    def linear_weights(self) -> tuple[np.ndarray, np.ndarray]:
        """``W`` (vocabulary, classes) and ``b`` (classes,) as float32: what a browser needs to run it."""
        return self.weight.weight.detach().float().numpy(), self.bias.detach().float().numpy()

    def onnx_graph(self) -> nn.Module:
        """The same function without EmbeddingBag, which ONNX exporters turn into a slow Loop."""
        return BagSumLinear(self)


class BagSumLinear(nn.Module):
    """``BagLinearNet`` as one Gather of weight rows, a Mul by the weights and a ScatterAdd.

    Each non-zero's bag is the number of offsets at or before it, minus one: a ScatterAdd of
    ones at the offsets, then a cumulative sum. Empty bags (empty documents) get the bias.
    """

    def __init__(self, net: BagLinearNet) -> None:
        super().__init__()
        self.weight = net.weight.weight
        self.bias = net.bias

    def forward(self, indices: torch.Tensor, offsets: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        starts = torch.zeros(indices.shape[0] + 1, dtype=torch.long).index_add(0, offsets, torch.ones_like(offsets))
        bag = starts[:-1].cumsum(0) - 1
        rows = self.weight[indices] * weights.unsqueeze(1)
        return torch.zeros(offsets.shape[0], self.weight.shape[1], dtype=rows.dtype).index_add(0, bag, rows) + self.bias
