"""Your own corpus: CSV or JSONL files with a text column and a label column."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from distill.data.corpus import Corpus
from distill.data.datamodule import TextDataModule


def read_records(path: str | Path) -> list[dict]:
    """Rows of a ``.csv`` (header line) or ``.jsonl``/``.json`` (one object per line) file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist (data.train_file / data.test_file)")
    if path.suffix.lower() in (".jsonl", ".json"):
        with open(path, encoding="utf-8") as handle:
            return [json.loads(line) for line in handle if line.strip()]
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


class CsvDataModule(TextDataModule):
    """Train and test files in; label names are the sorted distinct training labels."""

    def __init__(
        self,
        train_file: str,
        test_file: str,
        text_column: str = "text",
        label_column: str = "label",
        id_column: str | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.files = {"train": train_file, "test": test_file}
        self.text_column, self.label_column, self.id_column = text_column, label_column, id_column

    def load_corpus(self) -> tuple[Corpus, Corpus]:
        records = {split: read_records(path) for split, path in self.files.items()}
        for split, rows in records.items():
            for column in filter(None, (self.text_column, self.label_column, self.id_column)):
                if rows and column not in rows[0]:
                    raise KeyError(
                        f"{self.files[split]} has no column '{column}' (columns: {sorted(rows[0])}); "
                        "set data.text_column / data.label_column / data.id_column"
                    )
        label_names = sorted({str(row[self.label_column]) for row in records["train"]})
        label_of = {name: index for index, name in enumerate(label_names)}
        unseen = sorted({str(row[self.label_column]) for row in records["test"]} - set(label_of))
        if unseen:
            raise ValueError(f"{self.files['test']} has labels never seen in training: {unseen}")
        corpora, offset = [], 0
        for split in ("train", "test"):
            rows = records[split]
            if self.id_column:
                ids = np.asarray([int(row[self.id_column]) for row in rows], dtype=np.int64)
            else:
                ids = np.arange(offset, offset + len(rows), dtype=np.int64)
            offset += len(rows)
            corpora.append(
                Corpus(
                    ids=ids,
                    texts=[str(row[self.text_column] or "") for row in rows],
                    labels=np.asarray(
                        [label_of[str(row[self.label_column])] for row in rows], dtype=np.int64
                    ),
                    label_names=label_names,
                )
            )
        return corpora[0], corpora[1]
