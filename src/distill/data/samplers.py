"""Orders of a split's examples by length: shorter padding in evaluation and in training batches."""

from __future__ import annotations

import numpy as np
from torch.utils.data import Sampler


class LengthOrderSampler(Sampler[int]):
    """Visits a split shortest-first, so evaluation batches pad to similar lengths."""

    def __init__(self, lengths: list[int]) -> None:
        self.order = np.argsort(lengths, kind="stable").tolist()

    def __iter__(self):
        return iter(self.order)

    def __len__(self) -> int:
        return len(self.order)


class LengthGroupedSampler(Sampler[int]):
    """Shuffles, then sorts each window of ``batch_size * window_batches`` examples by length.

    Batches stay random across windows but pad to similar lengths inside, which cuts a
    transformer epoch on long-tailed text by roughly the mean-to-max length ratio (the
    ``group_by_length`` of Hugging Face's Trainer). Lightning calls ``set_epoch`` each epoch,
    and wraps this sampler for DDP.
    """

    def __init__(self, lengths: list[int], batch_size: int, seed: int, window_batches: int = 50) -> None:
        self.lengths = np.asarray(lengths)
        self.window = batch_size * window_batches
        self.seed, self.epoch = seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        order = np.random.default_rng((self.seed, self.epoch)).permutation(len(self.lengths))
        windows = [order[start : start + self.window] for start in range(0, len(order), self.window)]
        return iter(np.concatenate([w[np.argsort(-self.lengths[w], kind="stable")] for w in windows]).tolist())

    def __len__(self) -> int:
        return len(self.lengths)
