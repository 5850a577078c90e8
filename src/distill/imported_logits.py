"""Teacher logits computed elsewhere (``model=teacher_imported teacher.imported=<file>``),
checked row by row and put in the corpus's label order, ready for a logit store.

The file (CSV, JSONL or Parquet: ``distill.logit_tables``) has an ``id`` column and either one
column per class, named as the corpus names it, or one list column, ``logits`` or
``probabilities``, whose order ``teacher.classes`` gives. Probabilities become
log-probabilities (softmax gives the probabilities back). Every example of the corpus needs
exactly one row; any fault is refused with its file, row and fix, never patched.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from distill.data.corpus import Corpus
from distill.errors import UserError
from distill.logit_store import LogitStore, file_sha256
from distill.logit_tables import ID_COLUMN, Row, read_rows

LIST_COLUMNS = ("logits", "probabilities")
PROBABILITY_TOLERANCE = 1e-3  # how far a row of probabilities may sum from 1 (float32 rounding, 4-digit exports)
SMALLEST = float(np.finfo(np.float32).tiny)  # a probability of 0 becomes log(SMALLEST), about -87, not -inf


def _layout(path: Path, place: str, row: dict, labels: list[str],
            classes: list[str] | None) -> tuple[str | None, list[str]]:
    """(the list column, ``logits`` or ``probabilities``, or None for one column per class;
    the classes in the order of a row's values)."""
    listed = [column for column in LIST_COLUMNS if column in row]
    if len(listed) > 1:
        raise UserError(f"{path}, {place} has both 'logits' and 'probabilities' columns; keep one of them")
    if not listed:
        columns = [column for column in row if column != ID_COLUMN]
        unknown = [column for column in columns if column not in labels]
        if unknown:
            raise UserError(f"{path}, {place}: columns {unknown} are not classes of the corpus {labels}; name one "
                            "column per class as the corpus does, or give a 'logits' list column with teacher.classes")
        return None, columns
    if classes is None:
        raise UserError(f"{path} gives '{listed[0]}' lists: set teacher.classes=[{', '.join(labels)}] in the order "
                        "of their values (the order is never guessed)")
    classes = [str(name) for name in classes]
    unknown = [name for name in classes if name not in labels]
    if unknown or len(set(classes)) != len(classes):
        raise UserError(f"teacher.classes={classes} names {unknown or 'a class twice'}: list each of the corpus's "
                        f"classes {labels} once, in the order of {path}'s '{listed[0]}' lists")
    return listed[0], classes


def _number(path: Path, place: str, column: str, value: Any) -> float:
    try:
        number = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        number = None
    if number is None or not math.isfinite(number):
        raise UserError(f"{path}, {place}: '{column}' is {value!r}, not a finite number; "
                        "recompute this row's logits (NaN, inf and blanks are refused)")
    return number


def _values(path: Path, place: str, row: dict, kind: str | None, columns: list[str]) -> list[float]:
    """A row's values in ``columns`` order; a row missing a class or with a wrong count is refused."""
    if kind is not None:
        values = row.get(kind)
        if isinstance(values, str):
            try:
                values = json.loads(values)
            except json.JSONDecodeError:
                values = None
        if not isinstance(values, list) or len(values) != len(columns):
            count = f"{len(values)} values" if isinstance(values, list) else f"{str(row.get(kind))[:40]!r}"
            raise UserError(f"{path}, {place}: '{kind}' is {count}, not a list of {len(columns)} (one per class of "
                            f"teacher.classes); give one value per class")
        return [_number(path, place, f"{kind}[{i}]", value) for i, value in enumerate(values)]
    absent = [column for column in columns if column not in row]
    extra = [column for column in row if column not in columns and column != ID_COLUMN]
    if absent or extra:
        problem = f"has no column for {absent}" if absent else f"has unknown columns {extra}"
        raise UserError(f"{path}, {place}: {problem}; give every row the same class columns, {columns}")
    return [_number(path, place, column, row[column]) for column in columns]


def _id(path: Path, place: str, row: dict) -> int:
    if row.get(ID_COLUMN) is None:
        raise UserError(f"{path}, {place} has no '{ID_COLUMN}' (it has {sorted(row)}); give every row its example id")
    value = row[ID_COLUMN]
    try:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return int(str(value).strip())
    except ValueError:
        raise UserError(f"{path}, {place}: id {value!r} is not an integer; give the corpus's example ids") from None


def _check_probabilities(path: Path, rows: list[Row], values: np.ndarray, tolerance: float) -> np.ndarray:
    """Log-probabilities, after checking each row is a distribution."""
    outside = np.flatnonzero(((values < 0) | (values > 1)).any(axis=1))
    if outside.size:
        raise UserError(f"{path}, {rows[outside[0]][0]}: a probability outside [0, 1]; give probabilities, "
                        "or logits in a 'logits' column")
    sums = values.sum(axis=1)
    off = np.flatnonzero(np.abs(sums - 1) > tolerance)
    if off.size:
        raise UserError(f"{path}, {rows[off[0]][0]}: probabilities sum to {sums[off[0]]:.6f}, not 1 (tolerance "
                        f"{tolerance:g}); give every class's probability, or logits in a 'logits' column")
    return np.log(np.maximum(values, SMALLEST))


def read_imported(
    path: str | Path | None,
    label_names: list[str],
    split_ids: Mapping[str, np.ndarray],
    classes: list[str] | None = None,
    tolerance: float = PROBABILITY_TOLERANCE,
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Per split, float32 logits row for row with ``split_ids`` and columns in ``label_names``
    order; and what the store records of the file (its name, hash, value kind, classes)."""
    if path is None:
        raise UserError("model=teacher_imported needs the logits file: set teacher.imported=<file.csv|.jsonl|.parquet>")
    path = Path(path)
    rows = read_rows(path)
    if not rows:
        raise UserError(f"{path} has no rows; give one row per example (an '{ID_COLUMN}' column and the logits)")
    kind, columns = _layout(path, rows[0][0], rows[0][1], list(label_names), classes)
    missing = [name for name in label_names if name not in columns]
    if missing:
        raise UserError(f"{path} has values for {len(columns)} classes, the corpus has {len(label_names)}: none for "
                        f"{missing}; give one value per class of {list(label_names)}")
    ids = np.asarray([_id(path, place, row) for place, row in rows], dtype=np.int64)
    values = np.asarray([_values(path, place, row, kind, columns) for place, row in rows], dtype=np.float64)
    if kind == "probabilities":
        values = _check_probabilities(path, rows, values, tolerance)
    kind = kind or "logits"
    order = np.argsort(ids, kind="stable")
    repeats = np.flatnonzero(ids[order][1:] == ids[order][:-1])
    if repeats.size:
        first, again = order[repeats[0]], order[repeats[0] + 1]
        raise UserError(f"{path}, {rows[again][0]}: id {ids[again]} repeats {rows[first][0]}; give each example one row")
    known = np.concatenate([np.asarray(wanted, np.int64) for wanted in split_ids.values()])
    unknown = np.flatnonzero(~np.isin(ids, known))
    if unknown.size:
        raise UserError(f"{path}, {rows[unknown[0]][0]}: id {ids[unknown[0]]} is no example of this corpus "
                        f"({unknown.size} such rows); drop them, or check data settings (data.id_column, categories)")
    permutation = [columns.index(name) for name in label_names]
    sorted_ids, logits = ids[order], {}
    for split, wanted in split_ids.items():
        wanted = np.asarray(wanted, np.int64)
        position = np.minimum(np.searchsorted(sorted_ids, wanted), len(sorted_ids) - 1)
        absent = wanted[sorted_ids[position] != wanted]
        if absent.size:
            raise UserError(f"{path}: no row for id {absent[0]} of split '{split}' ({absent.size} of its "
                            f"{len(wanted)} examples missing); give a row for every example of the corpus")
        logits[split] = values[order[position]][:, permutation].astype(np.float32)
    source = {"imported": path.name, "file_sha256": file_sha256(path), "values": kind, "classes": columns}
    return logits, source


def imported_store(path: str | Path | None, splits: Mapping[str, Corpus], classes: list[str] | None = None,
                   model: str = "teacher") -> LogitStore:
    """The file's logits as a teacher's logit store over ``splits``."""
    label_names = next(iter(splits.values())).label_names
    logits, source = read_imported(path, label_names, {name: corpus.ids for name, corpus in splits.items()}, classes)
    return LogitStore.from_predictions(dict(splits), logits, {"kind": "teacher", "model": model, **source})
