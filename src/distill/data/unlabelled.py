"""Unlabelled in-domain text: a CSV or JSONL file with a text column, read in chunks.

The teacher labels it once (``distill.labelling``) into its store's ``unlabelled`` split, which
students with ``transfer=unlabelled`` learn from soft labels alone (label -1). A file of millions of
documents is never held whole: it is decoded line by line and yielded ``chunk_size`` rows at a time.
``scan`` reads it once up front, so that an empty or non-UTF-8 file, a missing text column or ids
that repeat train or test ids are refused before any labelling starts, and so that a resumed
labelling can tell whether the file changed (its SHA-256).
"""

from __future__ import annotations

import codecs
import csv
import hashlib
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from distill.data.corpus import Corpus
from distill.data.records import Record, json_object
from distill.errors import UserError

SPLIT = "unlabelled"  # the split's name in the teacher's logit store
# The key of the teacher store's source that holds ``Scanned.fingerprint()`` of the file it labelled:
# a student rebuilds the split from data.unlabelled_file and refuses a file other than that one.
UNLABELLED_SOURCE_KEY = "unlabelled_file"
# Row r of a file without ids gets id first_id + r, first_id >= ID_BASE: above the row-numbered ids
# of train and test, and above Tang's copies (distill.data.transfer: 2**40 + source * 1000 + copy).
ID_BASE = 2**48
SHOWN = 5  # repeated ids a refusal lists


@dataclass(frozen=True)
class Scanned:
    """What one pass over the file found: its size, hash and row count, and how its rows get ids."""

    path: str
    documents: int
    bytes: int
    sha256: str
    first_id: int | None  # row 0's id when rows are numbered; None when the file's id column gives them
    text_column: str = "text"

    def fingerprint(self) -> dict:
        """What a labelling of this file records (the teacher's store, under ``UNLABELLED_SOURCE_KEY``), to
        refuse resuming on another file, and a student reading the file other than it was labelled."""
        return {"bytes": self.bytes, "sha256": self.sha256, "documents": self.documents, "first_id": self.first_id,
                "text_column": self.text_column}


@dataclass(frozen=True)
class UnlabelledFile:
    """``path`` (``.csv`` with a header, or ``.jsonl``/``.json``, one object per line); any label
    column is ignored. Ids come from ``id_column`` when the file's first row has it, else rows are
    numbered past every id the data already uses (``scan``)."""

    path: str
    text_column: str = "text"
    id_column: str | None = None
    chunk_size: int = 10_000

    def __post_init__(self) -> None:
        if self.chunk_size < 1:
            raise UserError(f"the unlabelled file's chunk size must be positive, got {self.chunk_size}")

    def scan(self, taken_ids: np.ndarray) -> Scanned:
        """Check the whole file against the ids train and test use (``taken_ids``); refuses an
        empty file, bad rows, and ids that repeat each other or a taken id."""
        path = Path(self.path)
        if not path.is_file():
            raise UserError(f"{path} does not exist: set data.unlabelled_file to a CSV or JSONL file of texts")
        taken = np.asarray(taken_ids, dtype=np.int64)
        digest, count, column_ids, has_ids = hashlib.sha256(), 0, array("q"), None
        for line, row in self._records(digest):
            has_ids = self._has_ids(row) if has_ids is None else has_ids
            if has_ids:
                column_ids.append(self._id(line, row))
            count += 1
        if count == 0:
            raise UserError(f"{path} has no rows (it is empty or only a header); "
                            "data.unlabelled_file needs one text per row")
        first_id = None if has_ids else max(ID_BASE, int(taken.max(initial=-1)) + 1)
        ids = np.frombuffer(column_ids, dtype=np.int64) if has_ids else first_id + np.arange(count, dtype=np.int64)
        self._check_ids(ids, taken)
        return Scanned(str(path), count, path.stat().st_size, digest.hexdigest(), first_id, self.text_column)

    def batches(self, scanned: Scanned) -> Iterator[tuple[np.ndarray, list[str]]]:
        """(ids, texts) of up to ``chunk_size`` rows at a time, in file order."""
        ids: list[int] = []
        texts: list[str] = []
        for row_number, (line, row) in enumerate(self._records(None)):
            ids.append(self._id(line, row) if scanned.first_id is None else scanned.first_id + row_number)
            texts.append(str(row[self.text_column] or ""))
            if len(texts) == self.chunk_size:
                yield np.asarray(ids, dtype=np.int64), texts
                ids, texts = [], []
        if texts:
            yield np.asarray(ids, dtype=np.int64), texts

    def corpus(self, scanned: Scanned, label_names: list[str]) -> Corpus:
        """The whole file as a transfer split (label -1), for students that train on its texts."""
        chunks = list(self.batches(scanned))
        ids = np.concatenate([chunk_ids for chunk_ids, _ in chunks])
        texts = [text for _, chunk_texts in chunks for text in chunk_texts]
        return Corpus(ids, texts, np.full(len(ids), -1, dtype=np.int64), label_names)

    def _records(self, digest: hashlib._Hash | None) -> Iterator[Record]:
        """(line, row) of every non-blank row, each checked for the text column."""
        lines = self._lines(digest)
        if Path(self.path).suffix.lower() in (".jsonl", ".json"):
            records = ((number, json_object(Path(self.path), number, text)) for number, text in lines if text.strip())
        else:
            records = self._csv_records(lines)
        for line, row in records:
            if self.text_column not in row:
                raise UserError(f"{self.path}, line {line} has no '{self.text_column}' (it has {sorted(row)}); "
                                "add it to every row or set data.text_column to one of those")
            yield line, row

    def _lines(self, digest: hashlib._Hash | None) -> Iterator[tuple[int, str]]:
        """(line number, text) split at \\n only, decoded one line at a time (UTF-8, with or
        without a byte-order mark): a multi-byte character never holds the byte \\n."""
        offset = 0
        with open(self.path, "rb") as handle:
            for number, data in enumerate(handle, start=1):
                if digest is not None:
                    digest.update(data)
                start = len(codecs.BOM_UTF8) if number == 1 and data.startswith(codecs.BOM_UTF8) else 0
                try:
                    yield number, data[start:].decode("utf-8")
                except UnicodeDecodeError as error:
                    at = offset + start + error.start
                    raise UserError(f"{self.path}, line {number}: byte {at} (0x{data[start + error.start]:02x}) "
                                    "is not UTF-8; re-save the file as UTF-8") from None
                offset += len(data)

    def _csv_records(self, lines: Iterator[tuple[int, str]]) -> Iterator[Record]:
        """Rows keyed by the header; a row with more or fewer fields than the header is refused."""
        reader = csv.reader((text for _, text in lines))
        header = next(reader, [])
        start = reader.line_num + 1
        for fields in reader:
            if fields:  # [] is a blank line
                if len(fields) != len(header):
                    raise UserError(
                        f"{self.path}, line {start}: expected {len(header)} fields (the header's), found "
                        f"{len(fields)}; give every row one value per column, quoting values that hold commas")
                yield start, dict(zip(header, fields))
            start = reader.line_num + 1

    def _has_ids(self, row: dict) -> bool:
        return bool(self.id_column) and self.id_column in row

    def _id(self, line: int, row: dict) -> int:
        if self.id_column not in row:
            raise UserError(f"{self.path}, line {line} has no '{self.id_column}' though the first row has one; "
                            "give every row an id, or none (rows are then numbered)")
        try:
            return int(str(row[self.id_column]).strip())
        except ValueError:
            raise UserError(f"{self.path}, line {line}: id {row[self.id_column]!r} in column '{self.id_column}' "
                            "is not an integer; give integer ids or drop the column (rows are then numbered)") from None

    def _check_ids(self, ids: np.ndarray, taken: np.ndarray) -> None:
        """Teacher logits are looked up by id: a repeated id would give one example another's targets."""
        values, counts = np.unique(ids, return_counts=True)
        repeated = values[counts > 1]
        if len(repeated):
            raise UserError(f"{self.path}: ids {_some(repeated)} in column '{self.id_column}' repeat within the "
                            "file; give every row its own id, or drop the column (rows are then numbered)")
        clashes = np.intersect1d(values, taken)
        if len(clashes):
            raise UserError(f"{self.path}: ids {_some(clashes)} in column '{self.id_column}' are train or test "
                            "ids too; give unlabelled rows ids the labelled files do not use, or drop the column "
                            "(rows are then numbered past theirs)")


def _some(ids: np.ndarray) -> str:
    shown = ", ".join(str(value) for value in ids[:SHOWN])
    return shown + (f" (and {len(ids) - SHOWN} more)" if len(ids) > SHOWN else "")
