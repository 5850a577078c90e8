"""Tiny end-to-end runs: teacher -> cache -> students, and every way the cache can be wrong."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from conftest import CONFIG_DIR, TINY_TEACHER, make_cfg
from distill.cli.config import data_module, load_splits, verified_teacher
from distill.cli.lightning_fit import encoded_data
from distill.cli.roles import role_of
from distill.cli.runners import input_identity, run, signature_of
from distill.data.corpus import Corpus
from distill.errors import UserError
from distill.logit_store import LogitStore, LogitStoreError, file_sha256
from distill.module import ClassifierModule

LIGHTNING_MODELS = sorted(
    path.stem for path in (Path(CONFIG_DIR) / "model").glob("*.yaml")
    if OmegaConf.load(path).get("role") in ("teacher", "student")
)
STUDENTS = ("logistic", "bilstm")


@pytest.fixture(scope="module")
def teacher_run(tmp_path_factory: pytest.TempPathFactory, corpus_archive: Path):
    """One tiny random-BERT teacher, fine-tuned and cached, shared by this module's tests."""
    tmp = tmp_path_factory.mktemp("teacher")
    cfg = make_cfg(tmp, corpus_archive, ["model=teacher_minilm", "trainer.max_epochs=10", "model.batch_size=8", "model.module.lr=5e-3", "callbacks.early_stopping.patience=10"])
    metrics = run(cfg)
    return cfg, metrics


def datamodule_for(cfg):
    return encoded_data(cfg, role_of(cfg))


def checkpoint_of(run_dir: str | Path) -> Path:
    """The checkpoint a run's metrics.json names, relative to the run folder."""
    record = json.loads((Path(run_dir) / "metrics.json").read_text())
    return Path(run_dir) / record["checkpoint"]["path"]


@pytest.mark.parametrize("model", LIGHTNING_MODELS)
def test_fast_dev_run_every_model(model: str, tmp_path: Path, corpus_archive: Path) -> None:
    cfg = make_cfg(tmp_path, corpus_archive, [f"model={model}", "distill=none", "++trainer.fast_dev_run=true"])
    metrics = run(cfg)
    record = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())
    assert record["status"] == "completed" and record["model"] == cfg.model.name and np.isfinite(metrics["test/loss"])
    assert not (Path(cfg.paths.output_dir) / "logits.npz").exists()  # one batch of training stores no logits


def test_teacher_writes_a_cache_for_every_split(teacher_run, tmp_path: Path) -> None:
    cfg, metrics = teacher_run
    cache = LogitStore.load(cfg.teacher.logits)
    datamodule = datamodule_for(make_cfg_like(cfg, tmp_path, "model=logistic"))
    for split, corpus in datamodule.splits.items():
        assert cache.manifest["splits"][split]["examples"] == len(corpus)
        np.testing.assert_array_equal(cache.ids[split], corpus.ids)
        assert cache.logits[split].shape == (len(corpus), 3) and np.isfinite(cache.logits[split]).all()
    assert cache.source["kind"] == "teacher" and cache.source["metrics"]["test/acc"] == metrics["test/acc"]
    assert cache.source["precision"] == "32-true"  # a bf16-mixed teacher's logits have bf16 precision only
    assert metrics["test/acc"] > 0.5  # three well-separated synthetic classes


def make_cfg_like(cfg, tmp_path: Path, *overrides: str):
    """A config with its own output folder that reads the same cache as ``cfg``."""
    return make_cfg(tmp_path, Path(cfg.data.archive), [f"teacher.logits={cfg.teacher.logits}", *overrides])


def rewritten_store(teacher_run, path: Path, logits_of) -> Path:
    """The teacher's store with ``logits_of(split, ids, labels)`` as its logits, checksummed anew."""
    store = LogitStore.load(teacher_run[0].teacher.logits)
    splits = data_module(teacher_run[0]).load_splits()

    def labels(split: str) -> np.ndarray:
        row = {int(example_id): i for i, example_id in enumerate(splits[split].ids)}
        return splits[split].labels[[row[int(example_id)] for example_id in store.ids[split]]]

    logits = {split: logits_of(split, store.ids[split], labels(split)) for split in store.ids}
    order = {split: np.random.default_rng(0).permutation(len(ids)) for split, ids in store.ids.items()}
    LogitStore({split: store.ids[split][order[split]] for split in store.ids},  # rows shuffled on disk
               {split: logits[split][order[split]] for split in store.ids},
               store.manifest).only(list(store.ids)).save(path)
    return path


@pytest.mark.parametrize("student", STUDENTS)
def test_students_distil_from_the_store_without_loading_the_teacher(
    student: str, teacher_run, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def no_teacher(*args, **kwargs):
        raise AssertionError("the teacher must not be loaded while a student trains")

    monkeypatch.setattr("distill.nets.TransformerNet.__init__", no_teacher)
    monkeypatch.setattr("transformers.AutoModelForSequenceClassification.from_pretrained", no_teacher)
    # A teacher that knows the labels: a student that learns from it must agree with it.
    knows = rewritten_store(teacher_run, tmp_path / "knows.npz",
                            lambda split, ids, labels: (4.0 * np.eye(3)[labels]).astype(np.float32))
    cfg = make_cfg(tmp_path, Path(teacher_run[0].data.archive), [
        f"teacher.logits={knows}", f"model={student}", "distill=kl", "distill.alpha=0.9", "distill.schedule=linear",
        "distill.temperature=4", "distill.temperature_end=1", "trainer.max_epochs=3"])
    metrics = run(cfg)
    # One document in seven is empty after stripping: there agreement is chance, so about 0.9 at best;
    # soft labels looked up by position instead of id would give about 1/3.
    assert metrics["test/agreement"] > 0.8
    assert np.isfinite(metrics["test/loss"])
    log = (Path(cfg.paths.output_dir) / "csv" / "version_0" / "metrics.csv").read_text()
    assert "train/temperature" in log.splitlines()[0]


@pytest.mark.parametrize("student", ["logistic", "bilstm"])  # shuffled, and length-grouped
def test_teacher_logits_follow_the_example_ids_through_shuffling(
    student: str, teacher_run, tmp_path: Path
) -> None:
    """A store whose logits encode each example's id and split: every batch row must carry its own."""
    code = {"train": 0.0, "val": 1.0, "test": 2.0}
    rewritten_store(teacher_run, tmp_path / "encoded.npz", lambda split, ids, labels: np.stack(
        [ids.astype(np.float32), np.full(len(ids), code[split], np.float32), np.zeros(len(ids), np.float32)], 1))
    cfg = make_cfg(tmp_path, Path(teacher_run[0].data.archive),
                   [f"teacher.logits={tmp_path / 'encoded.npz'}", f"model={student}", "distill=kl"])
    datamodule = datamodule_for(cfg)
    assert datamodule.group_by_length == (student == "bilstm")
    for split in ("train", "val", "test"):
        loader = datamodule.train_dataloader() if split == "train" else datamodule.dataloader(split)
        seen = []
        for batch in loader:
            np.testing.assert_array_equal(batch["teacher_logits"][:, 0].numpy(), batch["ids"].numpy())
            assert (batch["teacher_logits"][:, 1] == code[split]).all()
            seen.extend(batch["ids"].tolist())
        assert sorted(seen) == sorted(datamodule.splits[split].ids.tolist())
        if split == "train":
            assert seen != sorted(seen), "train loader should shuffle"


def test_a_refit_learns_val_rows_with_their_val_logits_and_labels_kept_by_fraction(teacher_run, tmp_path: Path) -> None:
    """Under refit=train_val, train is train + val: each val row carries the teacher's val logits, not a train row's."""
    code = {"train": 0.0, "val": 1.0, "test": 2.0}
    rewritten_store(teacher_run, tmp_path / "encoded.npz", lambda split, ids, labels: np.stack(
        [ids.astype(np.float32), np.full(len(ids), code[split], np.float32), np.zeros(len(ids), np.float32)], 1))
    overrides = [f"teacher.logits={tmp_path / 'encoded.npz'}", "model=logistic", "refit=train_val",
                 "data.labelled_fraction=0.5"]
    archive = Path(teacher_run[0].data.archive)
    plain = datamodule_for(make_cfg(tmp_path, archive, [*overrides[:2], "distill=kl"])).splits
    refit = datamodule_for(make_cfg(tmp_path, archive, [*overrides, "distill=kl"]))
    seen = []
    for batch in refit.train_dataloader():
        ids = batch["ids"].numpy()
        np.testing.assert_array_equal(batch["teacher_logits"][:, 0].numpy(), ids)
        np.testing.assert_array_equal(batch["teacher_logits"][:, 1].numpy(), np.isin(ids, plain["val"].ids) * 1.0)
        seen.extend(ids.tolist())
    assert sorted(seen) == sorted([*plain["train"].ids, *plain["val"].ids])
    labelled = refit.splits["train"].labels >= 0
    assert labelled.sum() == np.ceil(0.5 * len(seen))  # the fraction of train + val, val rows included
    hard_cfg = make_cfg(tmp_path, archive, [*overrides[1:], "distill=none"])
    hard = datamodule_for(hard_cfg)  # no teacher: hard labels only
    assert sorted(hard.splits["train"].ids) == sorted(seen) and hard.datasets["train"].teacher_logits is None


@pytest.mark.parametrize(
    "override, message",
    [
        ("data.categories=[comp.graphics,sci.space]", "labels"),
        ("data.max_train_samples=20", "split 'train'"),
        ("data.val_fraction=0.3", "split"),
        ("teacher.max_length=16", "max_length"),
        ("teacher.pretrained=bert-base-uncased", "teacher.pretrained"),
    ],
)
def test_mismatched_cache_is_refused_with_the_reason(teacher_run, override: str, message: str, tmp_path: Path) -> None:
    cfg = make_cfg_like(teacher_run[0], tmp_path, "model=logistic", override)
    with pytest.raises(LogitStoreError, match=message):
        datamodule_for(cfg)


def test_cache_from_another_teacher_checkpoint_is_refused(teacher_run, tmp_path: Path) -> None:
    other = tmp_path / "other.ckpt"
    other.write_bytes(b"another teacher")
    cfg = make_cfg_like(teacher_run[0], tmp_path, "model=logistic", f"teacher.ckpt_path={other}")
    with pytest.raises(LogitStoreError, match="checkpoint"):
        datamodule_for(cfg)
    pinned = checkpoint_of(teacher_run[0].paths.output_dir)
    datamodule_for(make_cfg_like(teacher_run[0], tmp_path, "model=logistic", f"teacher.ckpt_path={pinned}"))


def test_tampered_logits_are_refused(teacher_run, tmp_path: Path) -> None:
    cache = LogitStore.load(teacher_run[0].teacher.logits)
    cache.logits["train"][0, 0] += 1.0
    tampered = tmp_path / "tampered.npz"
    cache.save(tampered)
    with pytest.raises(LogitStoreError, match="corrupt"):
        LogitStore.load(tampered)


def test_a_teacher_with_hidden_labels_is_refused(tmp_path: Path, corpus_archive: Path) -> None:
    cfg = make_cfg(tmp_path, corpus_archive, ["model=teacher_minilm", "data.labelled_fraction=0.5"])
    with pytest.raises(UserError, match="data.labelled_fraction=1.0 for its stage"):
        run(cfg)


def test_a_hard_label_run_does_not_read_a_store_it_does_not_need(teacher_run, tmp_path: Path) -> None:
    """alpha=0: a store made for other data neither fails the run nor gives it a stale agreement."""
    cfg = make_cfg_like(teacher_run[0], tmp_path, "model=logistic", "distill=none", "data.val_fraction=0.3")
    with pytest.raises(LogitStoreError):
        verified_teacher(cfg, load_splits(cfg))  # the store does not match this split
    metrics = run(cfg)
    assert metrics["test/acc"] > 0.6 and not any("agreement" in key for key in metrics)


def test_distilling_without_a_cache_names_the_fix(tmp_path: Path, corpus_archive: Path) -> None:
    cfg = make_cfg(tmp_path, corpus_archive, ["model=logistic", "distill=kl"])
    with pytest.raises(LogitStoreError, match="model=teacher_minilm"):
        run(cfg)


def test_reloaded_teacher_checkpoint_reproduces_the_cache(teacher_run, tmp_path: Path) -> None:
    cfg = teacher_run[0]
    cache = LogitStore.load(cfg.teacher.logits)
    model = ClassifierModule.load_from_checkpoint(checkpoint_of(cfg.paths.output_dir)).eval()
    datamodule = datamodule_for(make_cfg_like(cfg, tmp_path, "model=teacher_minilm"))
    batch = next(iter(datamodule.test_dataloader()))
    with torch.no_grad():
        logits = model(**batch["inputs"])
    np.testing.assert_allclose(logits.numpy(), cache.aligned("test", batch["ids"].numpy()), atol=1e-5)


@pytest.mark.parametrize("student, net", [("logistic", "BagLinearNet"), ("bilstm", "BiLSTMNet")])
def test_student_checkpoint_reloads_without_arguments(student, net, tmp_path: Path, corpus_archive) -> None:
    cfg = make_cfg(tmp_path, corpus_archive, [f"model={student}", "distill=none"])
    run(cfg)
    reloaded = ClassifierModule.load_from_checkpoint(checkpoint_of(cfg.paths.output_dir))
    assert reloaded.num_classes == 3 and type(reloaded.net).__name__ == net


@pytest.mark.parametrize("model", ["teacher_minilm", "bilstm", "logistic"])
def test_empty_documents_give_finite_logits(model: str, tmp_path: Path, corpus_archive: Path) -> None:
    cfg = make_cfg(tmp_path, corpus_archive, [f"model={model}", "distill=none"])
    datamodule = instantiate(cfg.data, features=instantiate(cfg.model.features))
    datamodule.setup("fit")
    dataset = datamodule.datasets["test"]
    empty = [i for i, text in enumerate(dataset.corpus.texts) if not text.strip()]
    assert empty, "the synthetic corpus has documents that are empty after stripping"
    net = instantiate(cfg.model.module, _recursive_=False, _convert_="all", num_classes=datamodule.num_classes,
                      vocab_size=datamodule.features.vocab_size)
    batch = datamodule.dataloader("test").collate_fn([dataset[i] for i in empty])
    logits = net(**batch["inputs"])
    loss = net.loss_fn(logits, batch["labels"])
    loss.backward()
    assert torch.isfinite(logits).all() and torch.isfinite(loss)
    assert all(torch.isfinite(p.grad).all() for p in net.parameters() if p.grad is not None)


def test_pipeline_runs_every_stage_then_skips_a_matching_teacher_and_completed_stages(
    tmp_path: Path, corpus_archive: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hydra import initialize_config_dir

    from distill.cli.pipeline import run_pipeline

    tiny = ",".join(f"{key}:{value}" for key, value in TINY_TEACHER.items())
    stages = {
        "teacher": ["model=teacher_minilm", "model.module.net.pretrained=null", f"+model.module.net.config={{{tiny}}}",
                    "trainer.max_epochs=2"],
        "sk_complementnb": ["model=sk_complementnb"],
        "sk_logreg": ["model=sk_logreg"],
        "teacher_ensemble": ["model=teacher_ensemble"],  # members at <stage>/../<member>/logits.npz
        "logistic_hard": ["model=logistic", "distill=none"],
        "logistic_kd": ["model=logistic", "distill=kl"],
    }
    overrides = [f"data.archive={corpus_archive}", f"paths.cache_dir={tmp_path / 'cache'}", "teacher.max_length=32",
                 "trainer.accelerator=cpu", "++trainer.enable_progress_bar=false", "++callbacks.progress_bar=null"]
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        first = run_pipeline(stages, overrides, tmp_path / "first")
        second = run_pipeline({"teacher": stages["teacher"]}, overrides, tmp_path / "second")
    assert set(first) == set(stages) and "skipped" not in first["teacher"]
    assert "test/agreement" in first["logistic_kd"] and "test/agreement" not in first["teacher"]
    assert second["teacher"]["skipped"] and second["teacher"]["test/acc"] == first["teacher"]["test/acc"]
    table = (tmp_path / "first" / "comparison.md").read_text()
    assert all(f"| {name} |" in table for name in stages)
    for name in stages:  # records and stores name paths relative to the run, never this machine's
        record = (tmp_path / "first" / name / "metrics.json").read_text()
        manifest = json.dumps(LogitStore.load(tmp_path / "first" / name / "logits.npz").manifest)
        assert str(tmp_path) not in record and str(tmp_path) not in manifest, name

    monkeypatch.setattr("distill.cli.pipeline.run", lambda cfg: pytest.fail(f"{cfg.model.name} must not re-run"))
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        resumed = run_pipeline(stages, overrides, tmp_path / "first")
    assert all(resumed[name]["skipped"] for name in stages)
    assert checkpoint_of(tmp_path / "first" / "teacher").is_file()  # its own run, not the store's copy
    assert resumed["logistic_kd"]["test/acc"] == first["logistic_kd"]["test/acc"]

    rerun = []
    monkeypatch.setattr("distill.cli.pipeline.run", lambda cfg: rerun.append(cfg.paths.output_dir) or {})

    def stages_rerun(changed_stages: dict[str, list[str]]) -> set[str]:
        rerun.clear()
        with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
            run_pipeline(changed_stages, overrides, tmp_path / "first")
        return {Path(folder).name for folder in rerun}

    assert stages_rerun({**stages, "logistic_hard": [*stages["logistic_hard"], "model.module.lr=0.5"]}) == {
        "logistic_hard"}
    # The teacher's store is reused only for the settings it was made with.
    assert stages_rerun({**stages, "teacher": [*stages["teacher"], "model.module.lr=1e-3"]}) == {"teacher"}
    # A classic member is known to the ensemble by the settings it was made with, not by its bytes.
    member_path = tmp_path / "first" / "sk_logreg" / "logits.npz"
    member = LogitStore.load(member_path)
    member.logits["test"] = member.logits["test"] + 1e-3  # other bits, same settings: another machine's BLAS
    member.with_source().save(member_path)
    assert stages_rerun(stages) == set()
    member.with_source(signature="other settings").save(member_path)  # not its stage's: both re-run
    assert stages_rerun(stages) == {"sk_logreg", "teacher_ensemble"}
    unsigned = {key: value for key, value in member.source.items() if key != "signature"}
    LogitStore(member.ids, member.logits, {**member.manifest, "source": unsigned}).with_source().save(member_path)
    assert stages_rerun(stages) == {"sk_logreg", "teacher_ensemble"}  # a store that records no run is no run's
    member.with_source().save(member_path)  # signed again; its logits keep the +1e-3
    (tmp_path / "first" / "logistic_kd" / "metrics.json").write_text('{"status": "failed"}')
    assert stages_rerun(stages) == {"logistic_kd"}
    teacher_cache = LogitStore.load(tmp_path / "cache" / "teacher_logits.npz")
    teacher_cache.manifest["refitted"] = True  # same data, new bytes: as if the teacher were re-trained
    teacher_cache.only(list(teacher_cache.ids)).save(tmp_path / "cache" / "teacher_logits.npz")
    assert stages_rerun(stages) == {"teacher_ensemble", "logistic_kd"}  # both read it


def test_a_run_of_some_stages_keeps_the_other_stages_rows_of_the_comparison(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hydra import initialize_config_dir

    from distill.cli.pipeline import run_pipeline

    stages = {name: ["model=logistic", "distill=none"] for name in ("first", "second", "third")}
    accuracy = {"first": 0.1, "second": 0.2, "third": 0.3}
    monkeypatch.setattr("distill.cli.pipeline.completed_metrics", lambda cfg: None)
    monkeypatch.setattr("distill.cli.pipeline.run",
                        lambda cfg: {"test/acc": accuracy[Path(cfg.paths.output_dir).name]})
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        run_pipeline(stages, [], tmp_path)
        accuracy["second"] = 0.9
        ran = run_pipeline({"second": stages["second"]}, [], tmp_path, plan=list(stages))
    comparison = json.loads((tmp_path / "comparison.json").read_text())
    assert list(ran) == ["second"]
    assert list(comparison) == ["first", "second", "third"]
    assert [row["test/acc"] for row in comparison.values()] == [0.1, 0.9, 0.3]
    assert "| third |" in (tmp_path / "comparison.md").read_text()


def test_run_signature_follows_settings_not_where_or_how_a_run_is_logged_or_shown(
    tmp_path: Path, corpus_archive
) -> None:
    signature = signature_of(make_cfg(tmp_path, corpus_archive, ["model=logistic", "distill=none"]))
    moved = make_cfg(tmp_path / "moved", corpus_archive, ["model=logistic", "distill=none", "logger=none",
                                                          "+pipeline.stages=[]", "trainer.log_every_n_steps=7",
                                                          "++trainer.enable_progress_bar=true",
                                                          "++callbacks.progress_bar.refresh_rate=200",
                                                          f"data.archive={tmp_path / 'elsewhere.tar.gz'}"])
    assert signature_of(moved) == signature
    for change in ("model.module.lr=0.5", "seed=7", "trainer.max_epochs=3", "data.val_fraction=0.3"):
        changed = make_cfg(tmp_path, corpus_archive, ["model=logistic", "distill=none", change])
        assert signature_of(changed) != signature, change


def test_a_classic_store_counts_by_its_recorded_signature_any_other_file_by_its_bytes(tmp_path: Path) -> None:
    train = Corpus(np.arange(4), ["a", "b", "c", "d"], np.array([0, 1, 0, 1]), ["x", "y"])
    logits = {"train": np.eye(2, dtype=np.float32)[[0, 1, 0, 1]]}
    for kind, expected in (("classic", "its settings"), ("teacher", None)):
        path = tmp_path / f"{kind}.npz"
        LogitStore.from_predictions({"train": train}, logits, {"kind": kind, "signature": "its settings"}).save(path)
        assert input_identity(str(path)) == (expected or file_sha256(path))
    unsigned = tmp_path / "unsigned.npz"
    LogitStore.from_predictions({"train": train}, logits, {"kind": "classic"}).save(unsigned)
    (tmp_path / "text.npz").write_text("not a store")
    assert input_identity(str(unsigned)) == file_sha256(unsigned)
    assert input_identity(str(tmp_path / "text.npz")) == file_sha256(tmp_path / "text.npz")
    assert input_identity(str(tmp_path / "missing.npz")) is None


def test_teacher_ckpt_path_caches_a_trained_teacher_without_fitting(
    teacher_run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = teacher_run[0]
    checkpoint = checkpoint_of(cfg.paths.output_dir)
    monkeypatch.setattr("lightning.pytorch.Trainer.fit", lambda *a, **k: pytest.fail("must not fit"))
    again = make_cfg(tmp_path, Path(cfg.data.archive), [
        "model=teacher_minilm", f"teacher.ckpt_path={checkpoint}", f"teacher.logits={tmp_path / 'again.npz'}"])
    metrics = run(again)
    assert checkpoint_of(again.paths.output_dir).parent == Path(again.paths.output_dir) / "checkpoints"  # a copy
    first, second = LogitStore.load(cfg.teacher.logits), LogitStore.load(tmp_path / "again.npz")
    assert metrics["test/acc"] == teacher_run[1]["test/acc"]
    assert metrics["val/acc_best"] == pytest.approx(teacher_run[1]["val/acc_best"])
    for split in ("train", "val", "test"):
        np.testing.assert_allclose(second.logits[split], first.logits[split], atol=1e-5)


def test_own_csv_corpus_trains_end_to_end(tmp_path: Path, corpus_archive: Path) -> None:
    rows = [("orbit rocket launch", "space"), ("engine brake wheel", "autos"), ("", "autos")] * 12
    (tmp_path / "train.csv").write_text("text,label\n" + "\n".join(f'"{t}",{y}' for t, y in rows) + "\n")
    (tmp_path / "test.csv").write_text("text,label\n" + "\n".join(f'"{t}",{y}' for t, y in rows[:6]) + "\n")
    cfg = make_cfg(tmp_path, corpus_archive, ["data=csv", f"data.train_file={tmp_path / 'train.csv'}",
                                              f"data.test_file={tmp_path / 'test.csv'}", "model=logistic",
                                              "distill=none", "model.features.min_df=1", "trainer.max_epochs=3"])
    metrics = run(cfg)
    assert metrics["test/acc"] > 0.6


def test_evaluation_loaders_are_length_ordered_and_complete(tmp_path: Path, corpus_archive: Path) -> None:
    cfg = make_cfg(tmp_path, corpus_archive, ["model=bilstm", "distill=none"])
    datamodule = instantiate(cfg.data, features=instantiate(cfg.model.features))
    datamodule.setup("fit")
    for split in ("train", "val", "test"):
        corpus = datamodule.splits[split]
        batches = list(datamodule.dataloader(split))
        ids = torch.cat([batch["ids"] for batch in batches]).tolist()
        assert sorted(ids) == sorted(corpus.ids.tolist())
        lengths = [int(n) for batch in batches for n in batch["inputs"]["attention_mask"].sum(-1)]
        assert lengths == sorted(lengths)
        position = {int(example_id): i for i, example_id in enumerate(corpus.ids)}
        labels = torch.cat([batch["labels"] for batch in batches]).tolist()
        assert labels == [int(corpus.labels[position[i]]) for i in ids]