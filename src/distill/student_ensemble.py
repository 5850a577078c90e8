"""Two distilled students served as one: a weighted average of their class probabilities.

The BiLSTM and the logistic student read the text differently (word order over the first
``max_length`` WordPieces vs. TF-IDF n-grams of the whole document), so their errors differ and an
average can beat both. The weight is the only thing fitted, on the validation split, by a
coarse grid: with about a thousand validation documents a finer search would fit noise.

The BiLSTM costs more than ten times the logistic student, and at a small weight it rarely
changes the average's top class: ``undecided`` says exactly where it can, so a server may run it
only there (``distill.serving.cascade``).
"""

from __future__ import annotations

import numpy as np

GRID = np.round(np.linspace(0.0, 1.0, 11), 1)  # weight of the first member: 0, 0.1, ..., 1
TIE = 1e-6  # rounding slack of ``undecided``: a near-tie counts as undecided


def blend(first: np.ndarray, second: np.ndarray, weight: float) -> np.ndarray:
    """``weight * first + (1 - weight) * second``, both (N, C) probabilities."""
    return weight * first + (1.0 - weight) * second


def fit_weight(first: np.ndarray, second: np.ndarray, labels: np.ndarray, grid: np.ndarray = GRID) -> float:
    """The grid weight with the best accuracy on ``labels``; ties go to the weight nearest 0.5.

    Preferring the even average on ties keeps both members in play when val cannot tell
    the settings apart, instead of silently dropping one of them.
    """
    order = sorted(grid, key=lambda weight: (abs(weight - 0.5), weight))
    scores = [float(np.mean(blend(first, second, weight).argmax(1) == labels)) for weight in order]
    return float(order[int(np.argmax(scores))])


def undecided(second: np.ndarray, weight: float) -> np.ndarray:
    """Rows of ``blend(first, second, weight)`` whose argmax ``first`` could still change: a boolean (N,) mask.

    ``first`` moves the gap between two classes' blended probabilities by at most ``weight``, so a
    row where ``second``'s two largest probabilities differ by more than ``weight / (1 - weight)``
    keeps ``second``'s top class whatever ``first`` says (at weight 0.5 or more, no row does). Elsewhere
    ``first`` must be computed. The test is exact, with ``TIE`` of slack for rounding.
    """
    top_two = np.sort(second, axis=1)[:, -2:]
    return (1.0 - weight) * (top_two[:, 1] - top_two[:, 0]) <= weight + TIE


def choose_pair(val_probs: dict[str, np.ndarray], labels: np.ndarray,
                pairs: list[tuple[str, str]]) -> tuple[tuple[str, str], float] | None:
    """Of the ``pairs`` whose members have val probabilities here, the pair and weight best on val;
    a tie goes to the pair listed first (``distill.run_folder.blend_pairs``: the run's ``stage.blend_with``)."""
    best, best_acc = None, -1.0
    for pair in pairs:
        if all(name in val_probs for name in pair):
            weight = fit_weight(val_probs[pair[0]], val_probs[pair[1]], labels)
            acc = float(np.mean(blend(val_probs[pair[0]], val_probs[pair[1]], weight).argmax(1) == labels))
            if acc > best_acc:
                best, best_acc = (pair, weight), acc
    return best
