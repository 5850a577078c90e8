"""transfer=unlabelled: a distilling student learns data.unlabelled_file from the teacher store's
``unlabelled`` split, alone or on top of Tang's copies; a store for another file is refused."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import make_cfg
from distill.cli.config import learns_unlabelled, load_splits, transfer_of
from distill.cli.lightning_fit import encoded_data
from distill.cli.roles import role_of
from distill.data.corpus import Corpus
from distill.data.unlabelled import SPLIT, UNLABELLED_SOURCE_KEY, UnlabelledFile
from distill.errors import UserError
from distill.logit_store import LogitStore

WORDS = {"space": "orbit rocket moon launch", "cars": "engine wheel brake tyre"}
UNLABELLED_IDS = [500, 501, 502, 503]


def write_data(root: Path) -> dict[str, Path]:
    """Labelled train, val and test CSV files with ids, and an unlabelled JSONL file whose texts
    hold a word ('zebra') no labelled text has."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    paths, next_id = {}, 0
    for split, count in (("train", 8), ("val", 3), ("test", 3)):
        rows = ["id,text,label"]
        for label, words in WORDS.items():
            for _ in range(count):
                rows.append(f"{next_id},{' '.join(rng.choice(words.split(), 6))},{label}")
                next_id += 1
        paths[split] = root / f"{split}.csv"
        paths[split].write_text("\n".join(rows) + "\n")
    paths["unlabelled"] = root / "more.jsonl"
    paths["unlabelled"].write_text("".join(json.dumps({"id": id_, "text": f"zebra orbit engine {id_}"}) + "\n"
                                           for id_ in UNLABELLED_IDS))
    return paths


def by_id(ids: np.ndarray, classes: int = 2) -> np.ndarray:
    """Logits that name their example: row i is (id, -id) modulo 4096 (within float16's range), so a
    misaligned lookup shows."""
    named = (np.asarray(ids) % 4096).astype(np.float32)
    return np.stack([named, -named], axis=1)[:, :classes]


def teacher_store(splits: dict[str, Corpus], path: Path, unlabelled: UnlabelledFile | None) -> LogitStore:
    """A teacher's store as the teacher stage writes it: every split, and the unlabelled file's
    split with the file's fingerprint in its source."""
    splits, source = dict(splits), {"kind": "teacher", "model": "fake"}
    if unlabelled is not None:
        scanned = unlabelled.scan(np.concatenate([corpus.ids for corpus in splits.values()]))
        splits[SPLIT] = unlabelled.corpus(scanned, splits["train"].label_names)
        source[UNLABELLED_SOURCE_KEY] = scanned.fingerprint()
    store = LogitStore.from_predictions(splits, {name: by_id(corpus.ids) for name, corpus in splits.items()}, source)
    store.save(path)
    return store


def student(tmp_path: Path, paths: dict[str, Path], *extra: str, unlabelled: bool = True, transfer: str = "unlabelled"):
    overrides = ["data=csv", f"data.train_file={paths['train']}", f"data.val_file={paths['val']}",
                 f"data.test_file={paths['test']}", "data.id_column=id", "model=logistic", "distill=kl",
                 f"teacher.logits={tmp_path / 'teacher.npz'}", f"transfer={transfer}",
                 *([f"data.unlabelled_file={paths['unlabelled']}"] if unlabelled else []), *extra]
    return make_cfg(tmp_path, tmp_path, overrides)


def test_a_student_learns_the_unlabelled_file_from_the_teachers_soft_labels(tmp_path: Path) -> None:
    paths = write_data(tmp_path / "data")
    cfg = student(tmp_path, paths)
    splits = load_splits(cfg)
    teacher_store(splits, tmp_path / "teacher.npz", UnlabelledFile(str(paths["unlabelled"]), id_column="id"))
    data = encoded_data(cfg, role_of(cfg))
    train = data.splits["train"]
    assert sorted(train.ids.tolist()) == sorted(splits["train"].ids.tolist() + UNLABELLED_IDS)
    from_file = np.isin(train.ids, UNLABELLED_IDS)
    assert (train.labels[from_file] == -1).all() and (train.labels[~from_file] >= 0).all()
    np.testing.assert_array_equal(data.datasets["train"].teacher_logits, by_id(train.ids))
    assert "zebra" in data.features.vectorizer.vocabulary_  # fitted on the unlabelled texts too
    assert data.splits["val"].ids.tolist() == splits["val"].ids.tolist()


def test_without_an_unlabelled_file_transfer_unlabelled_adds_nothing(tmp_path: Path) -> None:
    paths = write_data(tmp_path / "data")
    cfg = student(tmp_path, paths, unlabelled=False)
    splits = load_splits(cfg)
    teacher_store(splits, tmp_path / "teacher.npz", None)
    data = encoded_data(cfg, role_of(cfg))
    assert data.splits["train"].ids.tolist() == splits["train"].ids.tolist()
    assert "zebra" not in data.features.vectorizer.vocabulary_


def test_a_store_that_did_not_label_this_file_is_refused(tmp_path: Path) -> None:
    paths = write_data(tmp_path / "data")
    cfg = student(tmp_path, paths)
    splits = load_splits(cfg)
    teacher_store(splits, tmp_path / "teacher.npz", None)
    with pytest.raises(UserError, match=r"has no 'unlabelled' split: label it with the teacher stage .*"
                                        r"python train.py model=teacher_finetuned .*data.unlabelled_file=.*more.jsonl"):
        encoded_data(cfg, role_of(cfg))
    teacher_store(splits, tmp_path / "teacher.npz", UnlabelledFile(str(paths["unlabelled"]), id_column="id"))
    with open(paths["unlabelled"], "a") as handle:
        handle.write(json.dumps({"id": 900, "text": "added after labelling"}) + "\n")
    with pytest.raises(UserError, match=r"labelled another unlabelled file than .*more.jsonl"):
        encoded_data(cfg, role_of(cfg))


@pytest.mark.parametrize("transfer", ["unlabelled", "tang_unlabelled"])
def test_a_hard_label_student_is_refused_the_unlabelled_set(tmp_path: Path, transfer: str) -> None:
    cfg = student(tmp_path, write_data(tmp_path / "data"), "distill=none", transfer=transfer)
    with pytest.raises(UserError, match=rf"soft labels only.*drop transfer={transfer}$"):
        encoded_data(cfg, role_of(cfg))


def test_the_unlabelled_set_comes_on_top_of_tangs_copies(tmp_path: Path) -> None:
    paths = write_data(tmp_path / "data")
    tang = ["transfer.word_classes=2", "transfer.min_count=1", f"transfer.logits={tmp_path / 'tang.npz'}"]
    cfg = student(tmp_path, paths, *tang, transfer="tang_unlabelled")
    plain = student(tmp_path, paths, *tang, transfer="tang")
    assert transfer_of(cfg) == transfer_of(plain) and learns_unlabelled(cfg) and not learns_unlabelled(plain)
    splits = load_splits(cfg)
    teacher = teacher_store(splits, tmp_path / "teacher.npz", UnlabelledFile(str(paths["unlabelled"]), id_column="id"))
    rules = transfer_of(cfg)
    classes = rules.fit_classes(splits["train"])
    copies = rules.generate(splits["train"], classes)
    source = {"kind": "transfer", "rules": rules.rules(), "word_classes": classes,
              "labeller": {"sha256": teacher.manifest["sha256"]}}
    labelled = LogitStore.from_predictions({"transfer": copies}, {"transfer": by_id(copies.ids)}, source)
    labelled.save(tmp_path / "tang.npz")
    data = encoded_data(cfg, role_of(cfg))
    train = data.splits["train"]
    assert len(copies) > 0
    assert sorted(train.ids.tolist()) == sorted([*splits["train"].ids.tolist(), *UNLABELLED_IDS, *copies.ids.tolist()])
    np.testing.assert_array_equal(data.datasets["train"].teacher_logits, by_id(train.ids))
    assert (train.labels[len(splits["train"]):] == -1).all()
