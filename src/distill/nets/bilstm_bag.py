"""The BiLSTM student with a linear bag-of-n-grams path beside it, logits summed."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from distill.nets.bilstm import BiLSTMNet
from distill.nets.naive_bayes import complement_naive_bayes

BIGRAM_PRIME = 1_000_003  # hashes a WordPiece pair (a, b) to (a * prime + b) mod buckets


class BiLSTMBagNet(nn.Module):
    """``BiLSTMNet`` plus a linear model of the document's WordPiece unigrams and hashed bigrams.

    The teacher ensemble is half linear TF-IDF models; a BiLSTM imitates that half poorly, while
    a linear path learns it directly (as fastText does) for a few multiply-adds per token. It
    reads the BiLSTM's tokens ([CLS] and [SEP] included, ``max_length`` at most), not the whole
    document as the TF-IDF members do. The bag is divided by the square root of the length,
    roughly as TF-IDF rows are L2-normalised. Both tables start at zero, so training starts from
    the BiLSTM alone, or from Complement Naive Bayes (``init_complement_naive_bayes``). Ids must
    be int64: the bigram hash overflows int32.
    """

    onnx_exporter = BiLSTMNet.onnx_exporter

    def __init__(self, vocab_size: int, num_classes: int, buckets: int = 2**18, **bilstm: Any) -> None:
        super().__init__()
        self.bilstm = BiLSTMNet(vocab_size, num_classes, **bilstm)
        self.buckets = buckets
        self.unigrams = nn.Embedding(vocab_size, num_classes)
        self.bigrams = nn.Embedding(buckets, num_classes)
        nn.init.zeros_(self.unigrams.weight)
        nn.init.zeros_(self.bigrams.weight)

    def _pairs(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Each adjacent pair of ids hashed to a bigram bucket: (B, L - 1)."""
        return (input_ids[:, :-1] * BIGRAM_PRIME + input_ids[:, 1:]) % self.buckets

    def bag(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """The linear path's logits: masked sums of unigram and bigram weights over sqrt(length)."""
        mask = attention_mask.unsqueeze(-1).to(self.unigrams.weight.dtype)
        unigrams = (self.unigrams(input_ids) * mask).sum(1)
        bigrams = (self.bigrams(self._pairs(input_ids)) * mask[:, :-1] * mask[:, 1:]).sum(1)
        return (unigrams + bigrams) / mask.sum(1).clamp(min=1).sqrt()

    @torch.no_grad()
    def init_complement_naive_bayes(
        self, batches: Iterable[tuple[dict[str, torch.Tensor], torch.Tensor]], smoothing: float
    ) -> None:
        """Set both tables to Complement Naive Bayes' weights (``complement_naive_bayes``) over the
        bag's own features (unigrams and bigram buckets, each occurrence 1 / sqrt(length)), fitted on
        the rows of ``batches`` (inputs, labels) that have a label (>= 0). The BiLSTM is left as it is."""
        vocab_size, num_classes = self.unigrams.weight.shape
        sums = torch.zeros(num_classes, vocab_size + self.buckets, dtype=torch.float64)
        for inputs, labels in batches:
            ids, mask = inputs["input_ids"], inputs["attention_mask"].double()
            mask = mask * (labels >= 0).unsqueeze(1)
            scale = 1.0 / inputs["attention_mask"].sum(1, keepdim=True).clamp(min=1).double().sqrt()
            rows = labels.clamp(min=0).unsqueeze(1)
            sums.index_put_((rows.expand_as(ids), ids), mask * scale, accumulate=True)
            pairs = self._pairs(ids) + vocab_size
            sums.index_put_((rows.expand_as(pairs), pairs), mask[:, :-1] * mask[:, 1:] * scale, accumulate=True)
        weight = complement_naive_bayes(sums, smoothing).T.to(self.unigrams.weight.dtype)
        self.unigrams.weight.copy_(weight[:vocab_size])
        self.bigrams.weight.copy_(weight[vocab_size:])

    def linear_logits(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """The logits of the path ``init_complement_naive_bayes`` sets: the bag's."""
        return self.bag(input_ids, attention_mask)

    @torch.no_grad()
    def rescale(self, factor: float) -> None:
        """Multiply the bag path's logits by ``factor``; the BiLSTM's are left as they are."""
        self.unigrams.weight.mul_(factor)
        self.bigrams.weight.mul_(factor)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.bilstm(input_ids, attention_mask) + self.bag(input_ids, attention_mask)
