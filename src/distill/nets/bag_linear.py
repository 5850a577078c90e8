"""Multinomial logistic regression over a sparse bag of features (TF-IDF)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch
from torch import nn

from distill.nets.naive_bayes import complement_naive_bayes


def bag_of_nonzeros(offsets: torch.Tensor, nonzeros: int) -> torch.Tensor:
    """Each non-zero's bag (row): the number of offsets at or before it, minus one."""
    starts = torch.zeros(nonzeros + 1, dtype=torch.long).index_add(0, offsets, torch.ones_like(offsets))
    return starts[:-1].cumsum(0) - 1


class BagLinearNet(nn.Module):
    """``W x + b`` for sparse ``x`` given as EmbeddingBag bags: cost grows with non-zeros only.

    No hidden layer: what scikit-learn's LogisticRegression fits, but trainable on soft targets.
    ``init_complement_naive_bayes`` starts it from Complement Naive Bayes instead of zeros.
    """

    def __init__(self, vocab_size: int, num_classes: int) -> None:
        super().__init__()
        self.weight = nn.EmbeddingBag(vocab_size, num_classes, mode="sum")
        self.bias = nn.Parameter(torch.zeros(num_classes))
        nn.init.zeros_(self.weight.weight)

    def forward(self, indices: torch.Tensor, offsets: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        return self.weight(indices, offsets, per_sample_weights=weights) + self.bias

    @torch.no_grad()
    def init_complement_naive_bayes(
        self, batches: Iterable[tuple[dict[str, torch.Tensor], torch.Tensor]], smoothing: float
    ) -> None:
        """Set ``W`` to Complement Naive Bayes' weights (``complement_naive_bayes``) and ``b`` to 0,
        fitted on the rows of ``batches`` (inputs, labels) that have a label (>= 0)."""
        vocab_size, num_classes = self.weight.weight.shape
        sums = torch.zeros(num_classes, vocab_size, dtype=torch.float64)
        for inputs, labels in batches:
            classes = labels[bag_of_nonzeros(inputs["offsets"], len(inputs["indices"]))]
            labelled = classes >= 0
            sums.index_put_((classes[labelled], inputs["indices"][labelled]),
                            inputs["weights"][labelled].double(), accumulate=True)
        self.weight.weight.copy_(complement_naive_bayes(sums, smoothing).T)
        self.bias.zero_()

    def linear_logits(self, indices: torch.Tensor, offsets: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """The logits of the path ``init_complement_naive_bayes`` sets: here, all of them."""
        return self(indices, offsets, weights)

    @torch.no_grad()
    def rescale(self, factor: float) -> None:
        """Multiply every logit by ``factor`` (a temperature's inverse)."""
        self.weight.weight.mul_(factor)
        self.bias.mul_(factor)

    def linear_weights(self) -> tuple[np.ndarray, np.ndarray]:
        """``W`` (vocabulary, classes) and ``b`` (classes,) as float32: what a browser needs to run it."""
        return self.weight.weight.detach().float().numpy(), self.bias.detach().float().numpy()

    def onnx_graph(self) -> nn.Module:
        """The same function without EmbeddingBag, which ONNX exporters turn into a slow Loop."""
        return BagSumLinear(self)


class BagSumLinear(nn.Module):
    """``BagLinearNet`` as one Gather of weight rows, a Mul by the weights and a ScatterAdd.

    Each non-zero's bag (``bag_of_nonzeros``) is a ScatterAdd of ones at the offsets, then a
    cumulative sum. Empty bags (empty documents) get the bias.
    """

    def __init__(self, net: BagLinearNet) -> None:
        super().__init__()
        self.weight = net.weight.weight
        self.bias = net.bias

    def forward(self, indices: torch.Tensor, offsets: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        bag = bag_of_nonzeros(offsets, indices.shape[0])
        rows = self.weight[indices] * weights.unsqueeze(1)
        return torch.zeros(offsets.shape[0], self.weight.shape[1], dtype=rows.dtype).index_add(0, bag, rows) + self.bias
