"""``model=teacher_finetuned`` and ``model=teacher_imported`` as runs: the classifier's logits in the
corpus's order, its store reused until the model changes, and bad input refused before any store."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import ROOT, make_cfg
from hf_models import LABELS, save_model
from distill.cli.runners import run
from distill.errors import UserError
from distill.logit_store import LogitStore

WORDS = {"comp.graphics": "pixel render shader polygon texture image", "rec.autos": "engine wheel brake gearbox",
         "sci.space": "orbit rocket launch nasa shuttle moon"}
assert sorted(WORDS) == LABELS


def write_rows(path: Path, count: int, seed: int, labelled: bool = True) -> None:
    """``count`` JSONL or CSV rows of texts drawn from each class's words."""
    rng = random.Random(seed)
    rows = []
    for index in range(count):
        label = LABELS[index % len(LABELS)]
        rows.append((" ".join(rng.choice(WORDS[label].split()) for _ in range(rng.randint(3, 12))), label))
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps({"text": text, **({"label": y} if labelled else {})}) + "\n"
                                for text, y in rows))
    else:
        path.write_text("text,label\n" + "".join(f"{text},{y}\n" for text, y in rows))


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """train.csv (30 rows), test.csv (12 rows), more.jsonl (20 unlabelled rows)."""
    root = tmp_path_factory.mktemp("own_corpus")
    write_rows(root / "train.csv", 30, seed=1)
    write_rows(root / "test.csv", 12, seed=2)
    write_rows(root / "more.jsonl", 20, seed=3, labelled=False)
    return root


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_model(tmp_path_factory.mktemp("own_models") / "bert", "bert")


def data_overrides(corpus: Path, unlabelled: bool = False) -> list[str]:
    return ["data=csv", f"data.train_file={corpus / 'train.csv'}", f"data.test_file={corpus / 'test.csv'}",
            *([f"data.unlabelled_file={corpus / 'more.jsonl'}"] if unlabelled else [])]


def teacher_cfg(tmp_path: Path, corpus: Path, model: Path, *extra: str, unlabelled: bool = False):
    return make_cfg(tmp_path, Path("unused"), [*data_overrides(corpus, unlabelled), "model=teacher_finetuned",
                                               f"teacher.pretrained={model}", "teacher.max_length=null",
                                               "teacher.backend=torch", *extra])


def own_logits(model: Path, texts: list[str]) -> np.ndarray:
    """The saved model's own logits, in its own column order."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    net = AutoModelForSequenceClassification.from_pretrained(model).eval()
    encoded = AutoTokenizer.from_pretrained(model)(texts, padding=True, truncation=True, return_tensors="pt")
    with torch.no_grad():
        return net(**encoded).logits.numpy()


def test_the_store_holds_the_models_own_logits_in_corpus_order_with_its_scores(
    tiny_corpus: Path, tiny_bert: Path, tmp_path: Path
) -> None:
    from distill.cli.config import load_splits

    cfg = teacher_cfg(tmp_path, tiny_corpus, tiny_bert, unlabelled=True)
    metrics = run(cfg)
    store = LogitStore.load(cfg.teacher.logits)
    assert set(store.ids) == {"train", "val", "test", "unlabelled"} and len(store.ids["unlabelled"]) == 20
    assert store.source["kind"] == "teacher_finetuned" and store.source["unlabelled_file"]["documents"] == 20
    splits = load_splits(cfg)
    config = json.loads((tiny_bert / "config.json").read_text())
    columns = [int(config["label2id"][name]) for name in LABELS]
    assert columns != [0, 1, 2]
    for name in ("train", "test"):
        expected = own_logits(tiny_bert, list(splits[name].texts))[:, columns]
        assert np.abs(store.aligned(name, splits[name].ids) - expected).max() <= 1e-4
    test_acc = np.mean(expected.argmax(1) == splits["test"].labels)
    assert metrics["test/acc"] == pytest.approx(test_acc) and "val/acc_best" in metrics
    record = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())
    assert record["role"] == "teacher_finetuned" and record["checkpoint"] is None
