"""Your own corpus: CSV or JSONL files with a text column and a label column.

A bad row is refused with its file and line (``UserError``): left in, it would surface far
from its cause, as a class named '' or 'None' or a scikit-learn error about 0 samples.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
from pathlib import Path

import numpy as np

from distill.data.corpus import Corpus
from distill.data.datamodule import TextDataModule
from distill.errors import UserError

Record = tuple[int, dict]  # (line the row starts on, column -> value)


def read_records(path: str | Path) -> list[Record]:
    """Rows of a ``.csv`` (header line) or ``.jsonl``/``.json`` (one object per line) file,
    each with its line number so that later checks can point at it."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path} does not exist: set data.train_file / data.test_file to your files")
    text = _decode(path)
    if path.suffix.lower() in (".jsonl", ".json"):
        return _jsonl_records(path, text)
    return _csv_records(path, text)


def _decode(path: Path) -> str:
    """The file as UTF-8, with or without the byte-order mark Excel writes (``utf-8-sig``)."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        offset = error.start + (len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0)
        line = data.count(b"\n", 0, offset) + 1
        raise UserError(
            f"{path}, line {line}: byte {offset} (0x{data[offset]:02x}) is not UTF-8; re-save the file as UTF-8"
        ) from None


def _csv_records(path: Path, text: str) -> list[Record]:
    """Rows keyed by the header; a row with more or fewer fields than the header is refused
    (``csv.DictReader`` would fill the gaps with None, which became a label named 'None')."""
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, [])
    records, start = [], reader.line_num + 1
    for fields in reader:
        if fields:  # [] is a blank line
            if len(fields) != len(header):
                raise UserError(
                    f"{path}, line {start}: expected {len(header)} fields (the header's), found {len(fields)}; "
                    "give every row one value per column, quoting values that hold commas or quotes"
                )
            records.append((start, dict(zip(header, fields))))
        start = reader.line_num + 1
    return records


def _jsonl_records(path: Path, text: str) -> list[Record]:
    """One JSON object per non-blank line (lines split at \\n only: a JSON string may hold U+2028)."""
    return [(number, _json_object(path, number, line))
            for number, line in enumerate(text.split("\n"), start=1) if line.strip()]


def _json_object(path: Path, number: int, line: str) -> dict:
    """The line's object; bad JSON, a list or a string would fail later without the file's name."""
    try:
        value = json.loads(line)
    except json.JSONDecodeError as error:
        raise UserError(
            f"{path}, line {number}: invalid JSON ({error.msg}, column {error.colno}); "
            "write one JSON object per line"
        ) from None
    if not isinstance(value, dict):
        raise UserError(
            f"{path}, line {number} is a JSON {type(value).__name__}, not an object; "
            'write one object per line, like {"text": "...", "label": "..."}'
        )
    return value


class CsvDataModule(TextDataModule):
    """Train and test files in; label names are the sorted distinct training labels."""

    def __init__(
        self,
        train_file: str,
        test_file: str,
        text_column: str = "text",
        label_column: str = "label",
        id_column: str | None = None,
        order_column: str | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.files = {"train": train_file, "test": test_file}
        self.text_column, self.label_column, self.id_column = text_column, label_column, id_column
        self.order_column = order_column

    def load_corpus(self) -> tuple[Corpus, Corpus]:
        records = {split: read_records(path) for split, path in self.files.items()}
        for split, rows in records.items():
            self._check_rows(split, rows)
        label_names = sorted({str(row[self.label_column]) for _, row in records["train"]})
        label_of = {name: index for index, name in enumerate(label_names)}
        unseen = sorted({str(row[self.label_column]) for _, row in records["test"]} - set(label_of))
        if unseen:
            raise UserError(
                f"{self.files['test']} has labels never seen in training: {unseen}; "
                "add examples of them to data.train_file or remove them from data.test_file"
            )
        ids = self._ids(records)
        train, test = (
            Corpus(
                ids=ids[split],
                texts=[str(row[self.text_column] or "") for _, row in records[split]],
                labels=np.asarray([label_of[str(row[self.label_column])] for _, row in records[split]],
                                  dtype=np.int64),
                label_names=label_names,
                order=self._order(split, records[split]),
            )
            for split in ("train", "test")
        )
        return train, test

    def _order(self, split: str, rows: list[Record]) -> np.ndarray | None:
        """``order_column``'s values, as numbers when every one is a number, else as text (ISO dates
        sort as text); None without the column, which leaves the rows in file order."""
        if not self.order_column:
            return None
        values = [str(row[self.order_column]).strip() for _, row in rows]
        for (line, _), value in zip(rows, values):
            if not value or value == "None":
                raise UserError(f"{self.files[split]}, line {line} has an empty '{self.order_column}'; "
                                "give every row a value or set data.order_column=null")
        try:
            return np.asarray([float(value) for value in values])
        except ValueError:
            return np.asarray(values)

    def _check_rows(self, split: str, rows: list[Record]) -> None:
        """Some rows, each with every configured column and a label (not '' or null)."""
        path = self.files[split]
        if not rows:
            raise UserError(
                f"{path} has no rows (it is empty or only a header); data.{split}_file needs labelled examples"
            )
        columns = {"data.text_column": self.text_column, "data.label_column": self.label_column,
                   "data.id_column": self.id_column, "data.order_column": self.order_column}
        for line, row in rows:
            for option, column in columns.items():
                if column and column not in row:
                    raise UserError(
                        f"{path}, line {line} has no '{column}' (it has {sorted(row)}); "
                        f"add it to every row or set {option} to one of those"
                    )
            if row[self.label_column] is None or not str(row[self.label_column]).strip():
                raise UserError(
                    f"{path}, line {line} has an empty '{self.label_column}'; label the row or remove it"
                )

    def _ids(self, records: dict[str, list[Record]]) -> dict[str, np.ndarray]:
        """Row numbers (train first, then test), or the id column's integers, unique across both
        files: teacher logits are looked up by id, so a repeated id would swap two examples' targets."""
        if not self.id_column:
            n_train, n_test = len(records["train"]), len(records["test"])
            return {"train": np.arange(n_train, dtype=np.int64),
                    "test": np.arange(n_train, n_train + n_test, dtype=np.int64)}
        seen: dict[int, str] = {}
        return {split: np.asarray([self._id(self.files[split], line, row, seen) for line, row in rows],
                                  dtype=np.int64)
                for split, rows in records.items()}

    def _id(self, path: str, line: int, row: dict, seen: dict[int, str]) -> int:
        """The row's id as an integer, recorded in ``seen`` (id -> where it was first found)."""
        place = f"{path}, line {line}"
        try:
            value = int(str(row[self.id_column]).strip())
        except ValueError:
            raise UserError(
                f"{place}: id {row[self.id_column]!r} in column '{self.id_column}' is not an integer; "
                "data.id_column must name a column of integer ids (or set data.id_column=null to number rows)"
            ) from None
        if value in seen:
            raise UserError(
                f"{place}: id {value} in column '{self.id_column}' repeats {seen[value]}; ids must be unique "
                "across data.train_file and data.test_file (or set data.id_column=null to number rows)"
            )
        seen[value] = place
        return value
