"""Your own corpus: CSV or JSONL files with a text column and a label column.

A bad row is refused with its file and line (``UserError``): left in, it would surface far
from its cause, as a class named '' or 'None' or a scikit-learn error about 0 samples.
"""

from __future__ import annotations

import numpy as np

from distill.data.corpus import Corpus
from distill.data.datamodule import TextDataModule
from distill.data.records import Record, read_records
from distill.errors import UserError


class CsvDataModule(TextDataModule):
    """Train and test files in, and optionally a validation file (``val_file``, used as val instead
    of a ``val_fraction`` of train, e.g. to reproduce a fixed split); label names are the sorted
    distinct training labels."""

    def __init__(
        self,
        train_file: str,
        test_file: str,
        text_column: str = "text",
        label_column: str = "label",
        id_column: str | None = None,
        order_column: str | None = None,
        val_file: str | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.files = {"train": train_file, "test": test_file, **({"val": val_file} if val_file else {})}
        self.text_column, self.label_column, self.id_column = text_column, label_column, id_column
        self.order_column = order_column

    def load_corpus(self) -> tuple[Corpus, ...]:
        records = {split: read_records(path) for split, path in self.files.items()}
        for split, rows in records.items():
            self._check_rows(split, rows)
        label_names = sorted({str(row[self.label_column]) for _, row in records["train"]})
        label_of = {name: index for index, name in enumerate(label_names)}
        for split in [name for name in self.files if name != "train"]:
            unseen = sorted({str(row[self.label_column]) for _, row in records[split]} - set(label_of))
            if unseen:
                raise UserError(
                    f"{self.files[split]} has labels never seen in training: {unseen}; "
                    f"add examples of them to data.train_file or remove them from data.{split}_file"
                )
        ids = self._ids(records)
        return tuple(
            Corpus(
                ids=ids[split],
                texts=[str(row[self.text_column] or "") for _, row in records[split]],
                labels=np.asarray([label_of[str(row[self.label_column])] for _, row in records[split]],
                                  dtype=np.int64),
                label_names=label_names,
                order=self._order(split, records[split]),
            )
            for split in self.files  # train, test, then val when given
        )

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
        """Row numbers (train first, then test, then val), or the id column's integers, unique across
        the files: teacher logits are looked up by id, so a repeated id would swap two examples' targets."""
        if not self.id_column:
            ends = np.cumsum([len(rows) for rows in records.values()])
            return {split: np.arange(end - len(rows), end, dtype=np.int64)
                    for (split, rows), end in zip(records.items(), ends)}
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
                f"across {self._options()} (or set data.id_column=null to number rows)"
            )
        seen[value] = place
        return value

    def _options(self) -> str:
        """The file settings in use, as a message names them: 'data.train_file and data.test_file'."""
        options = [f"data.{split}_file" for split in self.files]
        return f"{', '.join(options[:-1])} and {options[-1]}"
