"""Logits as a table: one row per example, an id column and one column per class, in CSV,
JSONL or Parquet. What a teacher run elsewhere hands over (``distill.imported_logits``
reads it), and what ``export_logits`` writes from a store.

Values are written so that they read back bit for bit: Parquet keeps float32 as it is, and
CSV and JSONL write each float32 as the shortest decimal of its exact double value.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np

from distill.atomic import atomic_path, write_text
from distill.data.records import read_records
from distill.errors import UserError
from distill.logit_store import LogitStore

FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".json": "jsonl", ".parquet": "parquet"}
ID_COLUMN = "id"
Row = tuple[str, dict]  # (where it is in the file: "line 3" or "row 3", column -> value)


def table_format(path: str | Path, option: str = "teacher.imported") -> str:
    """``csv``, ``jsonl`` or ``parquet``, from the file name's suffix."""
    kind = FORMATS.get(Path(path).suffix.lower())
    if kind is None:
        raise UserError(f"{option}={path}: the file must end in .csv, .jsonl or .parquet (its suffix says the format)")
    return kind


def _pyarrow():
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        raise UserError("Parquet files need pyarrow: pip install pyarrow (or install distill[imported])") from None
    return pyarrow


def read_rows(path: str | Path) -> list[Row]:
    """Every row of a CSV (header line), JSONL (one object per line) or Parquet file, with its place."""
    path = Path(path)
    kind = table_format(path)
    if not path.is_file():
        raise UserError(f"{path} does not exist: set teacher.imported to your logits file")
    if kind != "parquet":
        return [(f"line {line}", row) for line, row in read_records(path)]
    pyarrow = _pyarrow()
    try:
        table = pyarrow.parquet.read_table(path)
    except (OSError, ValueError, pyarrow.ArrowException) as error:
        raise UserError(f"{path} is not a readable Parquet file ({str(error).splitlines()[0]}); "
                        "write it again (pandas: DataFrame.to_parquet)") from None
    return [(f"row {number}", row) for number, row in enumerate(table.to_pylist(), start=1)]


def write_table(path: str | Path, ids: np.ndarray, classes: list[str], values: np.ndarray) -> None:
    """Rows (id, one float32 value per class) to ``path`` in the format its suffix names, atomically."""
    kind = table_format(path, "the logits file")
    values = np.asarray(values, dtype=np.float32)
    if kind == "parquet":
        pyarrow = _pyarrow()
        columns = {ID_COLUMN: pyarrow.array(np.asarray(ids, np.int64))}
        columns |= {name: pyarrow.array(values[:, column]) for column, name in enumerate(classes)}
        with atomic_path(path) as temporary:
            pyarrow.parquet.write_table(pyarrow.table(columns), str(temporary))
        return
    exact = values.astype(np.float64).tolist()  # each float32 as its exact double: repr reads back the same
    if kind == "jsonl":
        lines = (json.dumps({ID_COLUMN: int(i), **dict(zip(classes, row))}, ensure_ascii=False)
                 for i, row in zip(ids.tolist(), exact))
        write_text(path, "".join(line + "\n" for line in lines))
        return
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([ID_COLUMN, *classes])
    writer.writerows([i, *map(repr, row)] for i, row in zip(ids.tolist(), exact))
    write_text(path, buffer.getvalue())


def export_logits(store: LogitStore, path: str | Path) -> None:
    """Every split of ``store`` as one table (ids unique across splits), columns named by class."""
    classes = list(store.manifest["label_names"])
    if set(classes) & {ID_COLUMN, "logits", "probabilities"}:
        raise UserError(f"a class is named {sorted(set(classes) & {ID_COLUMN, 'logits', 'probabilities'})}, which a "
                        "logits table reserves for its id and list columns; rename that class in the data")
    ids = np.concatenate([store.ids[split] for split in store.ids])
    if len(np.unique(ids)) != len(ids):
        raise UserError("the store's splits share example ids, which one table cannot tell apart; "
                        f"export its splits one at a time (store.only([split])), it has {sorted(store.ids)}")
    values = np.concatenate([np.asarray(store.logits[split], np.float32) for split in store.ids])
    write_table(path, ids, classes, values)
