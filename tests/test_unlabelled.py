"""Unlabelled text files: streamed in chunks, ids that never meet train or test, bad files refused."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir

from conftest import CONFIG_DIR, ROOT
from distill.cli.config import data_module, learns_unlabelled, transfer_of
from distill.data.unlabelled import ID_BASE, UnlabelledFile
from distill.errors import UserError

TAKEN = np.array([0, 1, 2, 7])


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def read_all(source: UnlabelledFile, taken: np.ndarray = TAKEN) -> tuple[np.ndarray, list[str], list[int]]:
    """(ids, texts, chunk sizes) of the whole file."""
    chunks = list(source.batches(source.scan(taken)))
    return (np.concatenate([ids for ids, _ in chunks]), [text for _, texts in chunks for text in texts],
            [len(texts) for _, texts in chunks])


def test_csv_rows_are_numbered_past_every_taken_id_in_chunks(tmp_path: Path) -> None:
    path = tmp_path / "more.csv"
    path.write_text('text,label\nfirst,x\n"second, with a comma\nand a newline",y\n\nthird,\nfourth,z\nfifth,z\n')
    ids, texts, sizes = read_all(UnlabelledFile(str(path), chunk_size=2))
    assert texts == ["first", "second, with a comma\nand a newline", "third", "fourth", "fifth"]
    assert ids.tolist() == [ID_BASE + row for row in range(5)]
    assert sizes == [2, 2, 1]
    huge = np.array([3, ID_BASE + 10])  # a user's id column may hold large ids: rows go past them
    assert read_all(UnlabelledFile(str(path)), huge)[0].tolist() == [ID_BASE + 11 + row for row in range(5)]


def test_jsonl_ids_come_from_the_id_column_and_labels_are_ignored(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "more.jsonl", [{"id": 40, "body": "caf\u00e9", "label": "sci"},
                                                 {"id": "41", "body": None}, {"id": 39, "body": "line\u2028sep"}])
    source = UnlabelledFile(str(path), text_column="body", id_column="id")
    ids, texts, _ = read_all(source)
    assert ids.tolist() == [40, 41, 39] and texts == ["caf\u00e9", "", "line\u2028sep"]
    scanned = source.scan(TAKEN)
    assert scanned.first_id is None and scanned.documents == 3
    assert scanned.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    corpus = source.corpus(scanned, ["a", "b"])
    assert corpus.labels.tolist() == [-1, -1, -1] and corpus.ids.tolist() == [40, 41, 39]


def test_a_byte_order_mark_is_not_part_of_the_header(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes(b"\xef\xbb\xbftext\nhello\n")
    assert read_all(UnlabelledFile(str(path)))[1] == ["hello"]


def test_ids_that_repeat_train_or_test_ids_are_refused_with_a_few_of_them(tmp_path: Path) -> None:
    rows = [{"id": value, "text": "t"} for value in (1, 2, 7, 100, 0, 50)]
    path = write_jsonl(tmp_path / "clash.jsonl", rows)
    with pytest.raises(UserError, match=r"clash.jsonl: ids 0, 1, 2, 7 in column 'id' are train or test ids"):
        UnlabelledFile(str(path), id_column="id").scan(TAKEN)
    many = write_jsonl(tmp_path / "many.jsonl", [{"id": value, "text": "t"} for value in range(20, 40)])
    with pytest.raises(UserError, match=r"ids 20, 21, 22, 23, 24 \(and 15 more\)"):
        UnlabelledFile(str(many), id_column="id").scan(np.arange(100))


def test_ids_repeated_within_the_file_are_refused(tmp_path: Path) -> None:
    rows = [{"id": 5, "text": "a"}, {"id": 6, "text": "b"}, {"id": 5, "text": "c"}]
    path = write_jsonl(tmp_path / "twice.jsonl", rows)
    with pytest.raises(UserError, match=r"twice.jsonl: ids 5 in column 'id' repeat within the file"):
        UnlabelledFile(str(path), id_column="id").scan(TAKEN)


@pytest.mark.parametrize("content", [b"", b"text\n", b"\n\n"])
def test_an_empty_file_is_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(content)
    with pytest.raises(UserError, match=r"empty.csv has no rows .*data.unlabelled_file needs one text per row"):
        UnlabelledFile(str(path)).scan(TAKEN)


def test_a_non_utf8_file_is_refused_with_its_line_and_byte(tmp_path: Path) -> None:
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(b'{"text": "fine"}\n{"text": "caf\xe9"}\n')
    at = path.read_bytes().index(b"\xe9")
    with pytest.raises(UserError, match=rf"latin1.jsonl, line 2: byte {at} \(0xe9\) is not UTF-8; re-save"):
        UnlabelledFile(str(path)).scan(TAKEN)


def test_bad_rows_are_refused_with_file_and_line(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "no_text.jsonl", [{"text": "a"}, {"body": "b"}])
    with pytest.raises(UserError, match=r"no_text.jsonl, line 2 has no 'text' \(it has \['body'\]\)"):
        UnlabelledFile(str(path)).scan(TAKEN)
    partial = write_jsonl(tmp_path / "partial.jsonl", [{"id": 11, "text": "a"}, {"text": "b"}])
    with pytest.raises(UserError, match=r"partial.jsonl, line 2 has no 'id' though the first row has one"):
        UnlabelledFile(str(partial), id_column="id").scan(TAKEN)
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("text,label\na,b\nc,d,e\n")
    with pytest.raises(UserError, match=r"ragged.csv, line 3: expected 2 fields"):
        UnlabelledFile(str(ragged)).scan(TAKEN)
    with pytest.raises(UserError, match=r"missing.csv does not exist: set data.unlabelled_file"):
        UnlabelledFile(str(tmp_path / "missing.csv")).scan(TAKEN)


def test_a_file_without_its_id_column_is_numbered(tmp_path: Path) -> None:
    """data.id_column names the labelled files' ids; an unlabelled file without that column is numbered."""
    path = write_jsonl(tmp_path / "plain.jsonl", [{"text": "a"}, {"text": "b", "id": 3}])
    assert read_all(UnlabelledFile(str(path), id_column="id"))[0].tolist() == [ID_BASE, ID_BASE + 1]


def test_transfer_unlabelled_generates_no_set_and_reads_the_file_the_data_names(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "more.jsonl", [{"text": "a"}])
    overrides = ["data=csv", "data.train_file=t.csv", "data.test_file=s.csv", f"data.unlabelled_file={path}",
                 "data.text_column=body", "transfer=unlabelled"]
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(config_name="train", overrides=overrides)
    assert transfer_of(cfg) is None and learns_unlabelled(cfg)
    assert data_module(cfg).unlabelled() == UnlabelledFile(str(path), "body", None)


def test_the_fingerprint_names_the_text_column(tmp_path: Path) -> None:
    """A student reading another column than the teacher labelled is told, though the bytes are the same."""
    path = write_jsonl(tmp_path / "more.jsonl", [{"text": "a", "body": "b"}])
    text, body = (UnlabelledFile(str(path), column).scan(TAKEN).fingerprint() for column in ("text", "body"))
    assert text != body and {**text, "text_column": "body"} == body


def test_reading_an_unlabelled_file_imports_neither_lightning_nor_torch() -> None:
    """A labelling subprocess reads the file before it needs a model: it must start fast."""
    code = "import sys, distill.data.unlabelled; print(sorted({'lightning', 'torch'} & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stderr[-2000:]
