"""Classic scikit-learn baselines on exactly the framework's splits.

Each is a TF-IDF vectorizer and an estimator from the model config. ``model.search`` is a
grid over the estimator's and the vectorizer's parameters (``estimator__C``,
``vectorizer__ngram_range``): every point is fitted on train and scored on val, and only the
best one is scored on test. Its train-split logits are out-of-fold (``model.out_of_fold``
folds), so an ensemble teacher built from them is not fed near one-hot memorised answers;
val and test logits come from the model fitted on all of train.

Fits run on one thread: scikit-learn sums the multinomial loss's gradient over OpenMP threads,
so the last digits of a fit depend on the thread count, and the ensemble teacher and transfer
labels built on its logits could not be reproduced on a machine with another core count.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.model_selection import ParameterGrid, StratifiedKFold
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from distill import atomic
from distill.data.corpus import Corpus
from distill.evaluation import split_scores
from distill.logit_store import LogitStore
from distill.probability import log_softmax


def classic_logits(model: Pipeline, texts: list[str]) -> np.ndarray:
    """Log-probabilities where the estimator has them, else decision scores (SVMs)."""
    if hasattr(model, "predict_log_proba"):
        return log_softmax(model.predict_log_proba(texts))
    scores = model.decision_function(texts)
    return np.stack([-scores, scores], 1) if scores.ndim == 1 else scores


def search_on_val(
    template: Pipeline, grid: dict[str, list], splits: dict[str, Corpus]
) -> tuple[Pipeline, float, list[dict]]:
    """Fit every grid point on train, keep the best on val (first one on ties)."""
    best, best_acc, trials = None, -1.0, []
    for params in ParameterGrid(grid or {}):
        model = clone(template).set_params(**params)
        model.fit(splits["train"].texts, splits["train"].labels)
        acc = float(np.mean(model.predict(splits["val"].texts) == splits["val"].labels))
        trials.append({"params": {k: _plain(v) for k, v in params.items()}, "val/acc": acc})
        if acc > best_acc:
            best, best_acc = model, acc
    return best, best_acc, trials


def out_of_fold_logits(template: Pipeline, corpus: Corpus, folds: int, seed: int) -> np.ndarray:
    """Each training example's logits from a model that never saw it."""
    logits = None
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for fit_rows, held_rows in splitter.split(corpus.texts, corpus.labels):
        model = clone(template).fit([corpus.texts[i] for i in fit_rows], corpus.labels[fit_rows])
        fold_logits = classic_logits(model, [corpus.texts[i] for i in held_rows])
        if logits is None:
            logits = np.zeros((len(corpus), fold_logits.shape[1]), np.float32)
        logits[held_rows] = fold_logits
    return logits


def fit_classic(
    name: str,
    splits: dict[str, Corpus],
    vectorizer: BaseEstimator,
    estimator: BaseEstimator,
    grid: dict[str, list],
    out_of_fold: int,
    seed: int,
    model_path: Path,
) -> tuple[dict[str, Any], LogitStore]:
    """Tune on val, test once, pickle the fitted pipeline to ``model_path``; logits for every split."""
    template = Pipeline([("vectorizer", vectorizer), ("estimator", estimator)])
    with threadpool_limits(limits=1):
        model, val_acc, trials = search_on_val(template, {k: _grid_values(v) for k, v in grid.items()}, splits)
        logits = {stage: classic_logits(model, splits[stage].texts) for stage in ("val", "test")}
        logits["train"] = out_of_fold_logits(model, splits["train"], out_of_fold, seed)
    metrics: dict[str, Any] = {"val/acc_best": val_acc}
    for stage in ("val", "test"):
        metrics |= split_scores(stage, logits[stage], splits[stage].labels)
    metrics |= _save(model, model_path)
    source = {"kind": "classic", "model": name, "params": _chosen(model, grid), "search": trials,
              "out_of_fold": out_of_fold}
    return metrics, LogitStore.from_predictions(splits, logits, source)


def _save(model: Pipeline, path: Path) -> dict[str, float]:
    """Pickle the fitted pipeline atomically; returns its size (the estimator's weights)."""
    atomic.write_bytes(path, pickle.dumps(model))
    estimator = model.named_steps["estimator"]
    weights = getattr(estimator, "coef_", getattr(estimator, "feature_log_prob_", None))
    intercept = np.asarray(getattr(estimator, "intercept_", []))
    return {"params": float(weights.size + intercept.size), "weights_mb": (weights.nbytes + intercept.nbytes) / 2**20}


def _chosen(model: Pipeline, grid: dict[str, Any]) -> dict[str, Any]:
    return {key: _plain(model.get_params()[key]) for key in grid}


def _grid_values(values: list) -> list:
    """YAML lists stand for tuples where scikit-learn wants them (ngram_range)."""
    return [tuple(value) if isinstance(value, list) else value for value in values]


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value
