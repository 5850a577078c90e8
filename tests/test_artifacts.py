"""Committed artefacts stay usable: the full-corpus teacher caches match the real corpus, and the
committed report regenerates from the committed run with the committed numbers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from conftest import CONFIG_DIR, REAL_ARCHIVE, ROOT
from distill.cli.config import load_splits, teacher_spec, transfer_of
from distill.cli.plan import stage_overrides
from distill.cli.runners import signature_of
from distill.cli.report import report as build_report
from distill.data.transfer import source_ids
from distill.logit_store import LogitStore

CACHE = ROOT / "benchmarks" / "artifacts" / "newsgroups20" / "teacher_logits.npz"
ENSEMBLE = CACHE.with_name("teacher_ensemble_logits.npz")
TRANSFER = CACHE.with_name("transfer_logits.npz")
RESULTS = ROOT / "benchmarks" / "results"


@pytest.mark.slow
@pytest.mark.skipif(not (REAL_ARCHIVE.is_file() and CACHE.is_file()), reason="needs the real archive and cache")
def test_committed_newsgroups20_cache_matches_the_corpus(tmp_path: Path) -> None:
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose("train", overrides=["experiment=newsgroups20", f"data.archive={REAL_ARCHIVE}",
                                          f"paths.output_dir={tmp_path}", f"paths.root_dir={ROOT}"])
    splits = load_splits(cfg)
    for logits in (cfg.teacher.logits, cfg.ensemble_logits):
        cfg.teacher.logits = logits
        LogitStore.load(logits).verify(splits, teacher_spec(cfg))
    # the ordered split: each newsgroup's last 10% of training messages by article number
    assert {name: len(corpus) for name, corpus in splits.items()} == {"train": 10184, "val": 1130, "test": 7532}
    transfer_cfg = stage_cfg("transfer_labels", tmp_path)
    store = LogitStore.load(TRANSFER)
    rules = transfer_of(transfer_cfg)
    transfer = rules.generate(splits["train"], rules.recorded_classes(store.source, str(TRANSFER)))
    store.verify_splits({"transfer": transfer})  # regenerated from the corpus, it is the set that was labelled
    assert store.source["labeller"]["sha256"] == LogitStore.load(cfg.ensemble_logits).manifest["sha256"]
    assert set(source_ids(transfer.ids)) <= set(splits["train"].ids)


def stage_cfg(stage: str, tmp_path: Path):
    """The newsgroups20 pipeline's config of ``stage``, as the pipeline composes it."""
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        own = stage_overrides(compose("pipeline", overrides=["experiment=newsgroups20"]))[stage]
        return compose("train", overrides=["experiment=newsgroups20", f"data.archive={REAL_ARCHIVE}", *own,
                                           f"paths.output_dir={tmp_path / stage}", f"paths.root_dir={ROOT}"])


@pytest.mark.parametrize("stage, store", [("teacher", CACHE), ("teacher_ensemble", ENSEMBLE),
                                          ("transfer_labels", TRANSFER)])
def test_committed_stores_are_reused_by_the_pipeline_stages_that_made_them(
    stage: str, store: Path, tmp_path: Path
) -> None:
    """Their recorded signatures are the newsgroups20 stages': a config change that alters what the teacher,
    the ensemble or the labelling computes would re-run it (an hour here, and labelling needs the teacher's
    checkpoint, which is not committed), so it must show up here first."""
    source = LogitStore.load(store).source
    kinds = {"teacher": "teacher", "teacher_ensemble": "ensemble", "transfer_labels": "transfer"}
    assert source["kind"] == kinds[stage]
    members = ("sk_complementnb", "sk_logreg") if stage == "teacher_ensemble" else ()
    for member in members:  # the ensemble knows its classic members by the signatures their stores record
        signed = {"kind": "classic", "signature": signature_of(stage_cfg(member, tmp_path))}
        (tmp_path / member).mkdir()
        LogitStore({}, {}, {"source": signed}).save(tmp_path / member / "logits.npz")
    assert source["signature"] == signature_of(stage_cfg(stage, tmp_path))


@pytest.mark.slow
@pytest.mark.skipif(not REAL_ARCHIVE.is_file(), reason="needs the real archive")
def test_committed_report_regenerates_with_the_committed_numbers(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(ROOT)  # the run's config names the archive relative to the repository
    report = build_report(RESULTS / "newsgroups20" / "run", [], tmp_path)
    committed = json.loads((RESULTS / "newsgroups20.json").read_text())["models"]
    assert set(report["summary"]) == set(committed)
    for name, row in report["summary"].items():
        assert row["test_acc"] == pytest.approx(committed[name]["test_acc"])
        assert row["agreement"] == pytest.approx(committed[name]["agreement"])


def test_committed_records_say_what_each_stage_is_as_the_experiment_sets_it() -> None:
    """The served ensemble's pairs, the refits and the browser model are read from the records: the committed
    run's records must say what conf/experiment/newsgroups20.yaml sets, or a report or benchmark of them would
    pair, replace or pick other stages than a fresh run of the experiment."""
    from omegaconf import OmegaConf

    run = RESULTS / "newsgroups20" / "run"
    committed = {path.parent.name: json.loads(path.read_text())["stage"] for path in run.glob("*/metrics.json")}
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        plan = stage_overrides(compose("pipeline", overrides=["experiment=newsgroups20"]))
        assert set(committed) == set(plan)
        for name, overrides in plan.items():  # only its stage.* overrides can set its stage block
            own = [override for override in overrides if override.startswith("stage.")]
            cfg = compose("train", overrides=["experiment=newsgroups20", *own])
            assert committed[name] == OmegaConf.to_container(cfg.stage), name
    assert committed["bilstm_bag_kd_transfer_refit"]["refit_of"] == "bilstm_bag_kd_transfer"
