"""Classic baselines: tuned on val, out-of-fold train logits, and the ensemble teacher built on them."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import ComplementNB
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_info, threadpool_limits

from conftest import make_cfg
from distill.logit_store import LogitStore, LogitStoreError
from distill.classic import fit_classic, out_of_fold_logits, search_on_val
from distill.data.corpus import Corpus
from distill.teacher_ensemble import combine, fit_weights, save_unless_reproduced
from distill.features.tfidf import tfidf_vectorizer
from distill.cli.runners import run

CLASSIC = ("sk_complementnb", "sk_logreg", "sk_linearsvc", "sk_sgd_seed")


def noise_corpus(n: int = 120, seed: int = 0) -> Corpus:
    """Unique random words and random labels: a model can memorise it, never generalise."""
    rng = np.random.default_rng(seed)
    texts = [" ".join(f"w{rng.integers(10**9)}" for _ in range(5)) for _ in range(n)]
    return Corpus(ids=np.arange(n), texts=texts, labels=rng.integers(0, 3, n), label_names=["a", "b", "c"])


def test_out_of_fold_logits_never_come_from_a_model_that_saw_the_example() -> None:
    corpus = noise_corpus()
    model = Pipeline([("vectorizer", tfidf_vectorizer(min_df=1, max_df=1.0)),
                      ("estimator", LogisticRegression(C=1e4, max_iter=2000))])
    in_sample = model.fit(corpus.texts, corpus.labels).predict(corpus.texts)
    assert np.mean(in_sample == corpus.labels) == 1.0  # it memorises
    logits = out_of_fold_logits(model, corpus, folds=4, seed=0)
    assert logits.shape == (len(corpus), 3)
    assert np.mean(logits.argmax(-1) == corpus.labels) < 0.6  # held out, it is guessing


class PoolRecordingLogisticRegression(LogisticRegression):
    """Records the size of every thread pool each time it is fitted."""

    pools: list[dict[str, int]] = []

    def fit(self, X, y, sample_weight=None):
        self.pools.append({pool["user_api"]: pool["num_threads"] for pool in threadpool_info()})
        return super().fit(X, y, sample_weight)


def test_classic_fits_run_on_one_thread_whatever_the_caller_allows(tmp_path: Path) -> None:
    splits = {name: replace(noise_corpus(60, seed), ids=np.arange(60) + 1000 * seed)
              for seed, name in enumerate(("train", "val", "test"))}
    PoolRecordingLogisticRegression.pools.clear()
    with threadpool_limits(limits=2):
        assert all(pool["num_threads"] == 2 for pool in threadpool_info())  # the caller allows two
        fit_classic("sk_logreg", splits, tfidf_vectorizer(min_df=1, max_df=1.0), PoolRecordingLogisticRegression(),
                    {}, out_of_fold=3, seed=0, model_path=tmp_path / "model.pkl")
    fits = PoolRecordingLogisticRegression.pools
    assert len(fits) == 1 + 3  # the search's one grid point, then one model per fold
    assert all(threads == 1 for pools in fits for threads in pools.values())


def test_search_keeps_the_best_grid_point_on_val(corpus_archive: Path, tmp_path: Path) -> None:
    from distill.cli.config import load_splits
    cfg = make_cfg(tmp_path, corpus_archive, ["model=sk_complementnb"])
    splits = load_splits(cfg)
    template = Pipeline([("vectorizer", tfidf_vectorizer(min_df=1)), ("estimator", ComplementNB())])
    model, best, trials = search_on_val(template, {"estimator__alpha": [1e-3, 1.0, 1e3]}, splits)
    assert [t["params"]["estimator__alpha"] for t in trials] == [1e-3, 1.0, 1e3]
    assert best == max(t["val/acc"] for t in trials)
    first_best = next(t for t in trials if t["val/acc"] == best)["params"]["estimator__alpha"]
    assert model.get_params()["estimator__alpha"] == first_best


@pytest.mark.parametrize("model", CLASSIC)
def test_classic_run_writes_metrics_and_logits_for_every_split(model: str, corpus_archive: Path, tmp_path: Path) -> None:
    cfg = make_cfg(tmp_path, corpus_archive, [f"model={model}", "model.out_of_fold=3",
                                              "model.vectorizer.min_df=1"])
    metrics = run(cfg)
    assert metrics["test/acc"] > 0.6  # three well-separated synthetic classes
    summary = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert summary["role"] == "classic" and summary["metrics"]["test/acc"] == metrics["test/acc"]
    assert summary["checkpoint"]["format"] == "sklearn" and summary["checkpoint"]["path"] == "model.pkl"
    logits = LogitStore.load(tmp_path / "run" / "logits.npz")
    assert set(logits.ids) == {"train", "val", "test"} and (tmp_path / "run" / "model.pkl").is_file()
    assert logits.source["kind"] == "classic" and logits.source["model"] == model
    assert metrics["params"] > 0


def test_fitted_weights_favour_the_informative_member() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, 400)
    informative = 3.0 * np.eye(4)[labels] + rng.normal(size=(400, 4))
    noise = rng.normal(size=(400, 4)) * 3.0
    weights, temperatures = fit_weights([informative, noise], labels)
    assert weights[0] > 5 * weights[1]
    combined = combine([informative, noise], np.array([1.0, 0.0]), np.array([2.0, 1.0]))
    expected = informative / 2.0 - np.log(np.exp(informative / 2.0).sum(-1, keepdims=True))
    np.testing.assert_allclose(combined, expected, rtol=1e-5, atol=1e-5)


def test_an_ensemble_store_is_rewritten_for_other_predictions_or_another_signature_not_for_float_noise(
    tmp_path: Path,
) -> None:
    val = noise_corpus(40)
    logits = np.random.default_rng(1).normal(size=(40, len(val.label_names))).astype(np.float32)

    def ensemble(values: np.ndarray, signature: str) -> LogitStore:
        return LogitStore.from_predictions({"val": val}, {"val": values}, {"kind": "ensemble", "signature": signature})

    path = tmp_path / "ensemble.npz"
    save_unless_reproduced(ensemble(logits, "s"), path)
    written = path.read_bytes()
    save_unless_reproduced(ensemble(logits + 1e-6, "s"), path)  # another machine's BLAS, same settings
    assert path.read_bytes() == written
    save_unless_reproduced(ensemble(logits, "t"), path)
    assert LogitStore.load(path).source["signature"] == "t"
    shuffled = logits[:, ::-1].copy()  # other predictions
    save_unless_reproduced(ensemble(shuffled, "t"), path)
    np.testing.assert_array_equal(LogitStore.load(path).logits["val"], shuffled)


@pytest.fixture(scope="module")
def ensemble_run(tmp_path_factory: pytest.TempPathFactory, corpus_archive: Path):
    """Tiny teacher, two classic members and their ensemble, in one pipeline-like folder."""
    root = tmp_path_factory.mktemp("ensemble")
    cache = root / "cache"

    def stage(name: str, *overrides: str):
        cfg = make_cfg(root / name, corpus_archive, [f"paths.cache_dir={cache}", *overrides])
        cfg.paths.output_dir = str(root / name)
        return cfg, run(cfg)

    stage("teacher", "model=teacher_minilm", "trainer.max_epochs=3", "model.module.lr=5e-3")
    for name in ("sk_complementnb", "sk_logreg"):
        stage(name, f"model={name}", "model.out_of_fold=3", "model.vectorizer.min_df=1")
    cfg, metrics = stage("teacher_ensemble", "model=teacher_ensemble")
    return root, cfg, metrics


def test_ensemble_is_a_teacher_cache_students_accept(ensemble_run, corpus_archive: Path, tmp_path: Path) -> None:
    root, cfg, metrics = ensemble_run
    cache = LogitStore.load(cfg.model.output)
    assert set(cache.source["members"]) == {"teacher", "sk_complementnb", "sk_logreg"}
    assert cache.source["kind"] == "ensemble" and cache.source["max_length"] == cfg.teacher.max_length
    assert metrics["test/acc"] > 0.6
    student = make_cfg(tmp_path, corpus_archive, [f"teacher.logits={cfg.model.output}", "model=logistic",
                                                  "distill=kl", "model.features.min_df=1"])
    assert run(student)["test/agreement"] > 0.5


def test_ensemble_refuses_a_member_made_for_other_data(ensemble_run, corpus_archive: Path, tmp_path: Path) -> None:
    root, cfg, _ = ensemble_run
    other = make_cfg(tmp_path / "other", corpus_archive, ["model=sk_complementnb", "data.val_fraction=0.3",
                                                          "model.out_of_fold=3"])
    run(other)
    again = make_cfg(tmp_path, corpus_archive, [f"paths.cache_dir={root / 'cache'}", "model=teacher_ensemble",
                                                f"model.members.sk_complementnb={tmp_path / 'other' / 'run' / 'logits.npz'}",
                                                f"model.members.sk_logreg={root / 'sk_logreg' / 'logits.npz'}"])
    with pytest.raises(LogitStoreError, match="sk_complementnb"):
        run(again)



def test_a_rerun_keeps_a_reproduced_ensemble_cache_and_replaces_a_changed_one(ensemble_run) -> None:
    root, cfg, _ = ensemble_run
    output, member = Path(cfg.model.output), root / "sk_logreg" / "logits.npz"
    original, committed = LogitStore.load(member), output.read_bytes()

    def rerun_with_member_scaled_by(factor: float) -> bytes:
        logits = {split: values * factor for split, values in original.logits.items()}
        LogitStore(original.ids, logits, original.manifest).only(list(original.ids)).save(member)
        run(cfg)
        return output.read_bytes()

    try:
        assert rerun_with_member_scaled_by(1 + 1e-6) == committed  # float noise: the file stays
        assert rerun_with_member_scaled_by(5.0) != committed
    finally:
        original.save(member)
