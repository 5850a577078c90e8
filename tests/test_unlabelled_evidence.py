"""The unlabelled-file route reproduces the labelled_fraction route: the same splits from files,
and students that see the same examples with the same soft targets."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from conftest import benchmark_module, make_cfg
from distill.cli.lightning_fit import encoded_data
from distill.cli.roles import role_of
from distill.data.corpus import Corpus
from distill.data.unlabelled import SPLIT, UNLABELLED_SOURCE_KEY
from distill.logit_store import LogitStore

evidence = benchmark_module("unlabelled_evidence")
TINY = ["data.categories=null", "data.val_fraction=0.2"]  # the synthetic corpus has other newsgroups


def fake_teacher(splits: dict[str, Corpus], path: Path, **source) -> None:
    """One logit table for both routes: an example's logits follow from its id alone."""
    logits = {name: np.stack([(corpus.ids % 97).astype(np.float32), -(corpus.ids % 89).astype(np.float32),
                              np.zeros(len(corpus), np.float32)], axis=1) for name, corpus in splits.items()}
    LogitStore.from_predictions(splits, logits, {"kind": "teacher", **source}).save(path)


def seen(data) -> dict[int, tuple[int, tuple[float, ...]]]:
    """What a student trains on: id -> (label, soft target)."""
    train, targets = data.splits["train"], data.datasets["train"].teacher_logits
    return {int(id_): (int(label), tuple(row)) for id_, label, row in zip(train.ids, train.labels, targets)}


def test_the_files_give_the_quickstarts_splits_and_students_see_the_same_examples(
        tmp_path: Path, corpus_archive: Path) -> None:
    out = tmp_path / "files"
    result = evidence.main(["--json", str(tmp_path / "evidence.json"), "write", "--archive", str(corpus_archive),
                            "--out", str(out), *TINY])
    record = json.loads((tmp_path / "evidence.json").read_text())
    assert result == 0 and record["same_splits"] and record["differences"] == []
    assert record["examples"]["train (labelled)"] < record["examples"]["unlabelled"]

    fraction = make_cfg(tmp_path / "a", corpus_archive, ["experiment=quickstart", *TINY, "model=logistic",
                                                         "distill=kl", f"teacher.logits={tmp_path / 'a.npz'}"])
    files = make_cfg(tmp_path / "b", corpus_archive, [*record["csv_overrides"], "transfer=unlabelled", "model=logistic",
                                                      "distill=kl", f"teacher.logits={tmp_path / 'b.npz'}"])
    routes = {}
    for name, cfg in (("fraction", fraction), ("files", files)):
        splits = evidence.load_splits(cfg)
        extra, source = {}, {}
        if name == "files":
            unlabelled = evidence.data_module(cfg).unlabelled()
            scanned = unlabelled.scan(np.concatenate([corpus.ids for corpus in splits.values()]))
            extra = {SPLIT: unlabelled.corpus(scanned, splits["train"].label_names)}
            source = {UNLABELLED_SOURCE_KEY: scanned.fingerprint()}
        fake_teacher({**splits, **extra}, Path(cfg.teacher.logits), **source)
        routes[name] = encoded_data(cfg, role_of(cfg))
    a, b = routes["fraction"], routes["files"]
    assert seen(a) == seen(b)
    assert sum(label == -1 for label, _ in seen(a).values()) == record["examples"]["unlabelled"]
    for split in ("val", "test"):
        assert a.splits[split].ids.tolist() == b.splits[split].ids.tolist()
        assert a.splits[split].texts == b.splits[split].texts
    assert a.features.vectorizer.vocabulary_ == b.features.vectorizer.vocabulary_  # fitted on the same texts


def test_compare_reports_the_largest_test_accuracy_difference_of_shared_stages(tmp_path: Path) -> None:
    tables = {"a": {"teacher": {"test/acc": 0.9}, "logistic_kd": {"test/acc": 0.80}, "only_here": {"test/acc": 0.1}},
              "b": {"teacher": {"test/acc": 0.9}, "logistic_kd": {"test/acc": 0.795}}}
    for name, table in tables.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "comparison.json").write_text(json.dumps(table))
    out = tmp_path / "compare.json"
    assert evidence.main(["--json", str(out), "compare", str(tmp_path / "a"), str(tmp_path / "b")]) == 0
    record = json.loads(out.read_text())
    assert list(record["stages"]) == ["teacher", "logistic_kd"] and record["within_tolerance"]
    assert abs(record["largest_difference"] - 0.005) < 1e-12
    tables["b"]["logistic_kd"]["test/acc"] = 0.78
    (tmp_path / "b" / "comparison.json").write_text(json.dumps(tables["b"]))
    assert evidence.main(["--json", str(out), "compare", str(tmp_path / "a"), str(tmp_path / "b")]) == 1
