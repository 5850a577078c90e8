"""Rows of a CSV or JSONL file, each with the line it starts on, for errors that point at it.

Kept apart from ``distill.data.csv`` (which imports Lightning through its data module), so that
reading an unlabelled file in a labelling subprocess starts fast.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
from pathlib import Path

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
    return [(number, json_object(path, number, line))
            for number, line in enumerate(text.split("\n"), start=1) if line.strip()]


def json_object(path: Path, number: int, line: str) -> dict:
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
