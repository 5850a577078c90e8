"""Complement Naive Bayes weights from class-wise feature sums: a start for linear paths."""

from __future__ import annotations

import torch


def complement_naive_bayes(sums: torch.Tensor, smoothing: float) -> torch.Tensor:
    """(classes, features) weights from (classes, features) sums of feature values per class.

    Class c's weight of a feature is minus the log of its smoothed share of the feature mass
    of the *other* classes (Rennie et al., 2003), as scikit-learn's
    ``ComplementNB(alpha=smoothing)`` computes it. Each feature's weights are then centred over
    classes, which moves no softmax and keeps rare features' weights small.
    """
    if smoothing <= 0:
        raise ValueError(f"Complement Naive Bayes needs a positive smoothing, got {smoothing}")
    complement = sums.double().sum(0, keepdim=True) - sums.double() + smoothing
    weight = -(complement / complement.sum(1, keepdim=True)).log()
    return weight - weight.mean(0, keepdim=True)
