"""The student ensemble's weight is the val-accuracy argmax of the grid, ties to the even average."""

from __future__ import annotations

import numpy as np

from distill.serving import LoadedModel, average, cascade
from distill.student_ensemble import GRID, blend, choose_pair, fit_weight, undecided


def onehot(classes: list[int], confidence: float) -> np.ndarray:
    """Rows putting ``confidence`` on the given class and the rest evenly on the other two."""
    probs = np.full((len(classes), 3), (1.0 - confidence) / 2)
    probs[np.arange(len(classes)), classes] = confidence
    return probs


def test_blend_is_a_convex_combination() -> None:
    rng = np.random.default_rng(0)
    first, second = rng.dirichlet(np.ones(4), 5), rng.dirichlet(np.ones(4), 5)
    np.testing.assert_allclose(blend(first, second, 1.0), first)
    np.testing.assert_allclose(blend(first, second, 0.0), second)
    np.testing.assert_allclose(blend(first, second, 0.3).sum(1), 1.0)


def test_weight_follows_the_member_that_is_right() -> None:
    labels = np.array([0, 1, 2, 0, 1, 2])
    right, wrong = onehot(list(labels), 0.9), onehot([1, 2, 0, 1, 2, 0], 0.9)
    assert fit_weight(right, wrong, labels) > 0.5
    assert fit_weight(wrong, right, labels) < 0.5


def test_confident_member_is_outvoted_only_where_the_other_is_surer() -> None:
    """Each member is right on half the documents; only a mix gets every one right."""
    labels = np.array([0, 1, 2, 0])
    first = np.vstack([onehot([0, 1], 0.9), onehot([0, 1], 0.4)])  # right, then unsure and wrong
    second = np.vstack([onehot([1, 2], 0.4), onehot([2, 0], 0.9)])  # unsure and wrong, then right
    weight = fit_weight(first, second, labels)
    assert np.mean(blend(first, second, weight).argmax(1) == labels) == 1.0
    assert 0.0 < weight < 1.0 and weight in GRID


def test_ties_go_to_the_even_average() -> None:
    labels = np.array([0, 1, 2])
    probs = onehot(list(labels), 0.8)
    assert fit_weight(probs, probs, labels) == 0.5


def test_the_pair_best_on_val_is_chosen_among_those_present() -> None:
    labels = np.array([0, 1, 0, 1, 0, 1])
    right = np.eye(2)[labels] * 0.9 + 0.05
    wrong = np.eye(2)[1 - labels] * 0.9 + 0.05
    pairs = [("b_transfer", "l_transfer"), ("b", "l"), ("b", "absent")]
    probs = {"b": right, "l": right, "b_transfer": wrong, "l_transfer": wrong}
    assert choose_pair(probs, labels, pairs) == (("b", "l"), 0.5)
    probs |= {"b_transfer": right}
    pair, weight = choose_pair(probs, labels, pairs)  # equally right on val: the pair listed first
    assert pair == ("b_transfer", "l_transfer") and weight == 0.6  # nearest 0.5 that is right
    assert choose_pair(probs, labels, pairs[::-1]) == (("b", "l"), 0.5)
    assert choose_pair({"b": right, "l_transfer": right}, labels, pairs) is None  # no complete pair


def test_undecided_rows_are_exactly_those_the_first_member_can_flip() -> None:
    """Whatever the first member says (its worst case: all mass on one class), a decided row keeps
    the second member's top class; an undecided row is flipped by some first member."""
    rng = np.random.default_rng(0)
    second = rng.dirichlet(np.full(4, 0.3), size=2000)
    for weight in (0.1, 0.2, 0.3, 0.5):
        flippable = np.zeros(len(second), dtype=bool)
        for cls in range(4):
            first = np.zeros_like(second)
            first[:, cls] = 1.0
            flippable |= blend(first, second, weight).argmax(1) != second.argmax(1)
        rows = undecided(second, weight)
        assert not np.any(flippable & ~rows)  # never skips a row that matters
        assert np.array_equal(flippable, rows)  # and skips every row that cannot
    assert 0 < undecided(second, 0.2).sum() < len(second)
    assert undecided(second, 0.5).all()  # at half the weight, any margin can be outvoted


def test_the_cascade_runs_the_first_member_only_where_it_can_change_the_averages_top_class() -> None:
    rng = np.random.default_rng(1)
    texts = [f"text {index}" for index in range(300)]
    table = {"first": dict(zip(texts, rng.dirichlet(np.ones(3), size=300))),
             "second": dict(zip(texts, rng.dirichlet(np.full(3, 0.2), size=300)))}
    seen: list[str] = []

    def member(name: str) -> LoadedModel:
        def proba(batch: list[str]) -> np.ndarray:
            seen.extend(batch if name == "first" else [])
            return np.stack([table[name][text] for text in batch])
        return LoadedModel(name, "numpy", ["a", "b", "c"], proba, 1, 0.0, 0.0)

    first, second = member("first"), member("second")
    averaged = average("average", [first, second], [0.2, 0.8]).predict_proba(texts)
    seen.clear()
    probs = cascade("cascade", first, second, 0.2).predict_proba(texts)
    rows = undecided(second.predict_proba(texts), 0.2)
    assert np.array_equal(probs.argmax(1), averaged.argmax(1))  # the same top class for every text
    assert seen == [text for text, row in zip(texts, rows) if row] and 0 < len(seen) < len(texts) / 2
    assert np.allclose(probs[rows], averaged[rows]) and np.allclose(probs[~rows], second.predict_proba(texts)[~rows])
