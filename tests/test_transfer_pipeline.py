"""The transfer set end to end: the ensemble labels it, a student learns it, a committed store is reused."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from hydra import initialize_config_dir

from conftest import CONFIG_DIR, TINY_TEACHER, make_cfg
from distill.cli.config import load_splits, transfer_of
from distill.cli.lightning_fit import encoded_data
from distill.cli.roles import role_of
from distill.cli.runners import run
from distill.data.transfer import source_ids
from distill.teacher_ensemble import combine
from distill.errors import UserError
from distill.logit_store import LogitStore
from distill.serving.predictors import load

TINY = ",".join(f"{key}:{value}" for key, value in TINY_TEACHER.items())
RULES = ["transfer=tang", "transfer.word_classes=4", "transfer.min_count=1", "transfer.copies=2"]


@pytest.fixture(scope="module")
def transfer_run(tmp_path_factory: pytest.TempPathFactory, corpus_archive: Path):
    """teacher -> two classic members -> ensemble -> transfer labels -> a student that learns them."""
    from distill.cli.pipeline import run_pipeline

    tmp = tmp_path_factory.mktemp("transfer")
    store = tmp / "committed" / "transfer_logits.npz"
    stages = {
        "teacher": ["model=teacher_minilm", "model.module.net.pretrained=null", f"+model.module.net.config={{{TINY}}}",
                    "trainer.max_epochs=2"],
        "sk_complementnb": ["model=sk_complementnb", "model.out_of_fold=2"],
        "sk_logreg": ["model=sk_logreg", "model.out_of_fold=2"],
        "teacher_ensemble": ["model=teacher_ensemble"],
        "transfer_labels": ["model=transfer_labels", *RULES, f"transfer.logits={store}"],
        "logistic_kd_transfer": ["model=logistic", "distill=kl", "teacher.logits=${ensemble_logits}", *RULES,
                                 f"transfer.logits={store}"],
        "logistic_kd_transfer_refit": ["model=logistic", "distill=kl", "teacher.logits=${ensemble_logits}", *RULES,
                                       f"transfer.logits={store}", "refit=train_val", "model.max_epochs=2"],
    }
    overrides = [f"data.archive={corpus_archive}", f"paths.cache_dir={tmp / 'cache'}", "teacher.max_length=32",
                 "trainer.accelerator=cpu", "++trainer.enable_progress_bar=false", "++callbacks.progress_bar=null",
                 "data.val_fraction=0.2"]
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        results = run_pipeline(stages, overrides, tmp / "run")
    return tmp, stages, overrides, results


def student_cfg(tmp: Path, corpus_archive: Path, teacher_logits: str):
    return make_cfg(tmp / "student", corpus_archive, [
        "model=logistic", "distill=kl", f"teacher.logits={teacher_logits}", f"paths.cache_dir={tmp / 'cache'}", *RULES,
        f"transfer.logits={tmp / 'committed' / 'transfer_logits.npz'}"])


def test_the_ensemble_labels_copies_of_training_documents_only(transfer_run, corpus_archive: Path) -> None:
    tmp, *_ = transfer_run
    store = LogitStore.load(tmp / "committed" / "transfer_logits.npz")
    cfg = student_cfg(tmp, corpus_archive, str(tmp / "cache" / "teacher_ensemble_logits.npz"))
    splits = load_splits(cfg)
    rules = transfer_of(cfg)
    transfer = rules.generate(splits["train"], rules.recorded_classes(store.source, "the committed store"))
    store.verify_splits({"transfer": transfer})
    sources = set(source_ids(store.ids["transfer"]).tolist())
    assert sources <= set(splits["train"].ids.tolist())
    assert not sources & set(splits["val"].ids.tolist()) and not sources & set(splits["test"].ids.tolist())
    ensemble = LogitStore.load(tmp / "cache" / "teacher_ensemble_logits.npz")
    assert store.source["kind"] == "transfer" and store.source["labeller"]["sha256"] == ensemble.manifest["sha256"]
    with np.load(tmp / "committed" / "transfer_logits.npz") as arrays:
        assert arrays["logits_transfer"].dtype == np.float16  # compact: what gets committed

    # An independent labelling: each member served from its stage folder, combined with the fitted weights.
    members = ensemble.source["members"]
    log_probabilities = [np.log(load(tmp / "run" / name).predict_proba(transfer.texts)) for name in members]
    expected = combine(log_probabilities, np.array([m["weight"] for m in members.values()]),
                       np.array([m["temperature"] for m in members.values()]))
    got = store.aligned("transfer", transfer.ids)
    expected, got = (x - x.max(axis=1, keepdims=True) for x in (expected, got))
    assert np.abs(np.exp(got) - np.exp(expected)).max() < 2e-3  # float16 rounding of the top classes
    assert (got.argmax(1) == expected.argmax(1)).mean() > 0.99


def test_a_student_learns_the_transfer_set_from_soft_labels_alone(transfer_run, corpus_archive: Path) -> None:
    tmp, _, _, results = transfer_run
    cfg = student_cfg(tmp, corpus_archive, str(tmp / "cache" / "teacher_ensemble_logits.npz"))
    datamodule = encoded_data(cfg, role_of(cfg))
    train = datamodule.datasets["train"]
    plain = load_splits(cfg)["train"]
    store = LogitStore.load(tmp / "committed" / "transfer_logits.npz")
    extra = np.isin(train.corpus.ids, store.ids["transfer"])
    assert extra.sum() == len(store.ids["transfer"]) and len(train) == len(plain) + extra.sum()
    assert (train.corpus.labels[extra] == -1).all() and (train.corpus.labels[~extra] >= 0).all()
    np.testing.assert_array_equal(train.teacher_logits[extra], store.aligned("transfer", train.corpus.ids[extra]))
    assert np.isfinite(results["logistic_kd_transfer"]["test/acc"])


def test_a_refit_learns_val_and_the_copies_of_train_only_and_keeps_its_last_epoch(
    transfer_run, corpus_archive: Path
) -> None:
    tmp, _, _, results = transfer_run
    cfg = make_cfg(tmp / "refit", corpus_archive, [
        "model=logistic", "distill=kl", f"teacher.logits={tmp / 'cache' / 'teacher_ensemble_logits.npz'}",
        f"paths.cache_dir={tmp / 'cache'}", *RULES, f"transfer.logits={tmp / 'committed' / 'transfer_logits.npz'}",
        "refit=train_val"])
    datamodule = encoded_data(cfg, role_of(cfg))
    train, plain = datamodule.datasets["train"], load_splits(cfg)  # val rows' logits: test_pipeline.py
    copies = LogitStore.load(tmp / "committed" / "transfer_logits.npz").ids["transfer"]
    assert sorted(train.corpus.ids) == sorted([*plain["train"].ids, *plain["val"].ids, *copies])
    from_val = np.isin(train.corpus.ids, plain["val"].ids)
    np.testing.assert_array_equal(train.corpus.labels[from_val], plain["val"].labels)  # learnt with their labels
    learnt_copies = train.corpus.ids[train.corpus.labels == -1]
    assert sorted(learnt_copies) == sorted(copies)
    assert set(source_ids(learnt_copies).tolist()) <= set(plain["train"].ids.tolist())  # no copy of a val document

    record = results["logistic_kd_transfer_refit"]
    assert "val/acc_best" not in record and np.isfinite(record["test/acc"])  # nothing held out to score
    assert set(LogitStore.load(tmp / "run" / "logistic_kd_transfer_refit" / "logits.npz").ids) == {"test"}
    kept = sorted((tmp / "run" / "logistic_kd_transfer_refit" / "checkpoints").iterdir())
    assert [path.name for path in kept] == ["epoch01.ckpt"]  # the last of two epochs, not one val chose


def test_a_refit_without_its_option_or_of_a_model_that_is_not_a_student_is_refused(
    tmp_path: Path, corpus_archive: Path
) -> None:
    from distill.cli.runners import check_refit

    with pytest.raises(UserError, match="select refit=train_val"):
        check_refit(make_cfg(tmp_path, corpus_archive, ["model=logistic", "+data.refit=true"]))
    with pytest.raises(UserError, match="sk_logreg is a classic"):
        check_refit(make_cfg(tmp_path, corpus_archive, ["model=sk_logreg", "refit=train_val"]))
    check_refit(make_cfg(tmp_path, corpus_archive, ["model=logistic", "refit=train_val"]))


class OtherCPUKMeans:
    """k-means as another CPU's BLAS may fit it: other word classes, hence other copies."""

    def __init__(self, n_clusters: int, **_: object) -> None:
        self.n_clusters = n_clusters

    def fit_predict(self, features: np.ndarray) -> np.ndarray:
        return np.arange(len(features)) % self.n_clusters


def test_students_on_another_cpu_rebuild_the_labelled_set_from_its_recorded_classes(
    transfer_run, corpus_archive: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tmp, *_ = transfer_run
    cfg = student_cfg(tmp, corpus_archive, str(tmp / "cache" / "teacher_ensemble_logits.npz"))
    train = load_splits(cfg)["train"]
    store = LogitStore.load(tmp / "committed" / "transfer_logits.npz")
    monkeypatch.setattr("distill.data.word_classes.KMeans", OtherCPUKMeans)
    assert transfer_of(cfg).generate(train).fingerprint() != store.manifest["splits"]["transfer"]["fingerprint"]
    datamodule = encoded_data(cfg, role_of(cfg))  # a re-fit here would be refused: the copies would not be those labelled
    assert np.isin(store.ids["transfer"], datamodule.datasets["train"].corpus.ids).all()


def test_a_transfer_set_labelled_by_another_teacher_is_refused(transfer_run, corpus_archive: Path) -> None:
    tmp, *_ = transfer_run
    cfg = student_cfg(tmp, corpus_archive, str(tmp / "cache" / "teacher_logits.npz"))  # the transformer alone
    with pytest.raises(UserError, match="labelled by another teacher"):
        encoded_data(cfg, role_of(cfg))
    hard = make_cfg(tmp / "hard", corpus_archive, ["model=logistic", "distill=none", *RULES,
                                                  f"transfer.logits={tmp / 'committed' / 'transfer_logits.npz'}"])
    with pytest.raises(UserError, match="learnt from the teacher's soft labels only"):
        run(hard)


def test_a_committed_transfer_store_is_reused_without_the_teachers_checkpoint(
    transfer_run, monkeypatch: pytest.MonkeyPatch
) -> None:
    from distill.cli.pipeline import run_pipeline

    tmp, stages, overrides, results = transfer_run
    fresh = tmp / "fresh"  # a clone on another machine: stores committed, no checkpoint, classic members re-fitted
    for member in ("sk_complementnb", "sk_logreg"):  # ... with the same settings, to other bits
        store = LogitStore.load(tmp / "run" / member / "logits.npz")
        store.logits["val"] = store.logits["val"] * 1.01
        (fresh / member).mkdir(parents=True)
        store.with_source().save(fresh / member / "logits.npz")
    ensemble = tmp / "cache" / "teacher_ensemble_logits.npz"
    ensemble_bytes = ensemble.read_bytes()
    checkpoints = tmp / "run" / "teacher" / "checkpoints"
    shutil.move(checkpoints, tmp / "checkpoints_aside")  # put back below: later tests label with it
    monkeypatch.setattr("distill.cli.pipeline.run",
                        lambda cfg: pytest.fail(f"{cfg.model.name} must not re-run"))
    try:
        with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
            reused = run_pipeline({name: stages[name] for name in ("teacher_ensemble", "transfer_labels")},
                                  overrides, fresh)
    finally:
        shutil.move(tmp / "checkpoints_aside", checkpoints)
    assert reused["teacher_ensemble"]["skipped"] and reused["transfer_labels"]["skipped"]
    assert ensemble.read_bytes() == ensemble_bytes  # what the transfer labels were made from: kept
    assert reused["teacher_ensemble"]["test/acc"] == results["teacher_ensemble"]["test/acc"]
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        resumed = run_pipeline(stages, overrides, tmp / "run")  # the run's own folders: every stage completed
    assert all(resumed[name]["skipped"] for name in stages)
    assert reused["transfer_labels"]["transfer/examples"] == results["transfer_labels"]["transfer/examples"]
    other_rules = [*stages["transfer_labels"], "transfer.copies=3"]
    monkeypatch.setattr("distill.cli.pipeline.run", lambda cfg: {"rerun": True})
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        rerun = run_pipeline({"transfer_labels": other_rules}, overrides, tmp / "fresh2")
    assert rerun["transfer_labels"].get("rerun")  # other rules: the store is not theirs


def test_the_report_scores_every_model_and_names_the_labelling_stage_as_no_model(
    transfer_run, corpus_archive: Path
) -> None:
    from distill.report.collect import load_stages

    tmp, stages, _, _ = transfer_run
    test = load_splits(student_cfg(tmp, corpus_archive, "unused"))["test"]
    scored, left_out = load_stages(tmp / "run", list(stages), test)
    assert set(scored) == set(stages) - {"transfer_labels"}
    assert left_out == [{"stage": "transfer_labels", "status": "no model",
                         "reason": "labels the transfer set: nothing to score"}]


def test_train_py_labels_a_transfer_set_and_records_it_as_completed(
    transfer_run, corpus_archive: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """train.py returns the run's val score to sweepers; a labelling run has none and must not fail for it
    (train.py's entry point, in this process)."""
    import json

    from conftest import ROOT, in_process
    from distill.cli.train import main

    tmp, stages, *_ = transfer_run
    out = tmp / "run" / "transfer_labels_again"  # a sibling of the members' stage folders
    monkeypatch.chdir(ROOT)
    done = in_process(main, ["train.py", *stages["transfer_labels"][:-1], f"transfer.logits={tmp / 'again.npz'}",
                             f"data.archive={corpus_archive}", f"paths.cache_dir={tmp / 'cache'}",
                             f"hydra.run.dir={out}", "teacher.max_length=32", "data.val_fraction=0.2"],
                      monkeypatch, capsys)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads((out / "metrics.json").read_text())["status"] == "completed"
    again, first = (LogitStore.load(path) for path in (tmp / "again.npz", tmp / "committed" / "transfer_logits.npz"))
    np.testing.assert_array_equal(again.logits["transfer"], first.logits["transfer"])  # deterministic labels
