"""``model=teacher_finetuned`` and ``model=teacher_imported`` as runs: the classifier's logits in the
corpus's order, its store reused until the model changes, and bad input refused before any store."""

from __future__ import annotations

import json
import random
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import in_process, make_cfg
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


def test_a_rerun_reuses_the_store_and_a_changed_weight_relabels(
    tiny_corpus: Path, tiny_bert: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hydra import initialize_config_dir

    from conftest import CONFIG_DIR
    from distill.cli.pipeline import run_pipeline

    model = tmp_path / "model"
    save_model(model, "bert")
    overrides = [*data_overrides(tiny_corpus), "teacher=finetuned", f"teacher.pretrained={model}",
                 "teacher.backend=torch", f"paths.cache_dir={tmp_path / 'cache'}", "trainer.accelerator=cpu"]
    stages = {"teacher": ["model=teacher_finetuned"]}
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        first = run_pipeline(stages, overrides, tmp_path / "first")
        second = run_pipeline(stages, overrides, tmp_path / "second")
        save_model(model, "bert", seed=1)  # same config and tokenizer, other weights
        third = run_pipeline(stages, overrides, tmp_path / "third")
    assert "skipped" not in first["teacher"] and second["teacher"]["skipped"]
    assert second["teacher"]["test/acc"] == first["teacher"]["test/acc"]
    assert "skipped" not in third["teacher"]
    before = LogitStore.load(tmp_path / "first" / "teacher" / "logits.npz")
    after = LogitStore.load(tmp_path / "third" / "teacher" / "logits.npz")
    assert before.source["weights_sha256"] != after.source["weights_sha256"]
    assert not np.allclose(before.logits["test"], after.logits["test"])


def command_line(tmp_path: Path, *overrides: str) -> list[str]:
    """``train.py``'s overrides, writing under ``tmp_path``."""
    return [*overrides, f"hydra.run.dir={tmp_path / 'run'}", f"paths.cache_dir={tmp_path / 'cache'}",
            "trainer.accelerator=cpu"]


def refused(done: subprocess.CompletedProcess, tmp_path: Path, says: str) -> None:
    """A user error in at most three lines, no traceback, and no store written."""
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and "Traceback" not in done.stderr and len(lines) <= 3, done.stderr[-2000:]
    assert says in lines[0], lines
    assert not list((tmp_path / "cache").glob("*.npz")) if (tmp_path / "cache").exists() else True


@pytest.mark.parametrize("case", ["no_config", "bad_weights", "num_labels", "label_map", "unlabelled_empty",
                                  "unlabelled_ids", "imported_nan"])
def test_bad_input_is_refused_in_two_lines_before_any_store(
    case: str, tiny_corpus: Path, tiny_bert: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    model = tmp_path / "model"
    shutil.copytree(tiny_bert, model)
    finetuned = ["model=teacher_finetuned", f"teacher.pretrained={model}", "teacher.backend=torch"]
    data = data_overrides(tiny_corpus)
    if case == "no_config":
        (model / "config.json").unlink()
        says = f"{model / 'config.json'} does not exist"
    elif case == "bad_weights":
        (model / "model.safetensors").write_bytes(b"not weights")
        says = "the weights do not load"
    elif case == "num_labels":
        save_model(model, "bert", id2label=[*LABELS, "misc.other"])
        says = "num_labels=4"
    elif case == "label_map":
        finetuned.append(f"teacher.label_map={{{LABELS[0]}: {LABELS[0]}, {LABELS[1]}: {LABELS[1]}, "
                         f"{LABELS[2]}: talk.unknown}}")
        says = "which are not classes of the corpus"
    elif case == "unlabelled_empty":
        (tmp_path / "more.jsonl").write_text("")
        data.append(f"data.unlabelled_file={tmp_path / 'more.jsonl'}")
        says = "has no rows"
    elif case == "unlabelled_ids":
        (tmp_path / "more.jsonl").write_text(json.dumps({"id": 3, "text": "orbit"}) + "\n")
        data += [f"data.unlabelled_file={tmp_path / 'more.jsonl'}", "data.id_column=id"]
        for name in ("train.csv", "test.csv"):
            rows = (tiny_corpus / name).read_text().splitlines()
            offset = 0 if name == "train.csv" else 1000
            (tmp_path / name).write_text("\n".join([f"id,{rows[0]}", *(f"{i + offset},{row}" for i, row
                                                                       in enumerate(rows[1:]))]) + "\n")
        data = [o.replace(str(tiny_corpus), str(tmp_path)) for o in data]
        says = "are train or test ids too"
    else:
        (tmp_path / "logits.csv").write_text("id,comp.graphics,rec.autos,sci.space\n0,nan,0,0\n")
        finetuned = ["model=teacher_imported", f"teacher.imported={tmp_path / 'logits.csv'}"]
        says = str(tmp_path / "logits.csv")
    if case in ("no_config", "unlabelled_ids", "imported_nan"):
        # what a user sees, from train.py's entry point in this process (test_console runs a real process)
        from distill.cli.train import main

        monkeypatch.chdir(tmp_path)
        refused(in_process(main, ["train.py", *command_line(tmp_path, *finetuned, *data)], monkeypatch, capsys),
                tmp_path, says)
        return
    cfg = make_cfg(tmp_path, Path("unused"), [*data, *finetuned])
    with pytest.raises(UserError, match=re.escape(says)):
        run(cfg)
    assert not Path(cfg.teacher.logits).exists() and not (Path(cfg.paths.output_dir) / "logits.npz").exists()


def test_imported_logits_make_the_same_store_and_are_reused_until_the_file_changes(
    tiny_corpus: Path, tiny_bert: Path, tmp_path: Path
) -> None:
    from hydra import initialize_config_dir

    from conftest import CONFIG_DIR
    from distill.cli.pipeline import run_pipeline
    from distill.logit_tables import export_logits

    labelled = teacher_cfg(tmp_path / "labelled", tiny_corpus, tiny_bert)
    run(labelled)
    made = LogitStore.load(labelled.teacher.logits)
    table = tmp_path / "logits.jsonl"
    export_logits(made, table)
    overrides = [*data_overrides(tiny_corpus), f"teacher.imported={table}", f"paths.cache_dir={tmp_path / 'cache'}",
                 "data.val_fraction=0.2",  # as make_cfg splits it
                 "trainer.accelerator=cpu"]
    stages = {"teacher": ["model=teacher_imported"]}
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        first = run_pipeline(stages, overrides, tmp_path / "first")
        second = run_pipeline(stages, overrides, tmp_path / "second")
        table.write_bytes(table.read_bytes())  # written again, the same bytes: still reused
        third = run_pipeline(stages, overrides, tmp_path / "third")
        export_logits(made.with_source(model="edited").only(["train", "val", "test"]), table)
        rows = table.read_text().splitlines()
        table.write_text("\n".join([rows[-1], *rows[:-1]]) + "\n")  # other bytes, same logits
        fourth = run_pipeline(stages, overrides, tmp_path / "fourth")
    imported = LogitStore.load(tmp_path / "first" / "teacher" / "logits.npz")
    assert imported.source["kind"] == "teacher_imported"
    for split in ("train", "val", "test"):
        assert np.array_equal(imported.aligned(split, made.ids[split]), made.logits[split].astype(np.float32))
    assert first["teacher"]["test/acc"] == made.source["metrics"]["test/acc"]
    assert "skipped" not in first["teacher"] and second["teacher"]["skipped"] and third["teacher"]["skipped"]
    assert "skipped" not in fourth["teacher"]


def test_pipeline_finish_is_empty_unless_an_experiment_names_its_steps(tmp_path: Path) -> None:
    from hydra import compose, initialize_config_dir

    from conftest import CONFIG_DIR
    from distill.cli.finish import finish

    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        quickstart = compose(config_name="pipeline", overrides=["experiment=quickstart"])
        own = compose(config_name="pipeline", overrides=["experiment=own_teacher"])
    assert list(quickstart.pipeline.finish) == [] and list(own.pipeline.finish) == ["report", "export", "serve"]
    assert own.teacher._target_.endswith("ExternalTeacherSpec") and own.teacher.max_length is None
    with pytest.raises(UserError, match=r"pipeline.finish names \['publish'\]: choose from \['report', 'export'"):
        finish(["publish"], tmp_path)
