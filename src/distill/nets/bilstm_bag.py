"""The BiLSTM student with a linear bag-of-n-grams path beside it, logits summed."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from distill.nets.bilstm import BiLSTMNet

BIGRAM_PRIME = 1_000_003  # hashes a WordPiece pair (a, b) to (a * prime + b) mod buckets


class BiLSTMBagNet(nn.Module):
    """``BiLSTMNet`` plus a linear model of the document's WordPiece unigrams and hashed bigrams.

    The teacher ensemble is half linear TF-IDF models; a BiLSTM imitates that half poorly, while
    a linear path learns it directly (as fastText does) for a few multiply-adds per token. It
    reads the BiLSTM's tokens ([CLS] and [SEP] included, ``max_length`` at most), not the whole
    document as the TF-IDF members do. The bag is divided by the square root of the length,
    roughly as TF-IDF rows are L2-normalised. Both tables start at zero, so training starts from
    the BiLSTM alone. Ids must be int64: the bigram hash overflows int32.
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

    def bag(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """The linear path's logits: masked sums of unigram and bigram weights over sqrt(length)."""
        mask = attention_mask.unsqueeze(-1).to(self.unigrams.weight.dtype)
        unigrams = (self.unigrams(input_ids) * mask).sum(1)
        pairs = (input_ids[:, :-1] * BIGRAM_PRIME + input_ids[:, 1:]) % self.buckets
        bigrams = (self.bigrams(pairs) * mask[:, :-1] * mask[:, 1:]).sum(1)
        return (unigrams + bigrams) / mask.sum(1).clamp(min=1).sqrt()

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.bilstm(input_ids, attention_mask) + self.bag(input_ids, attention_mask)
