"""Logits computed elsewhere: read from CSV, JSONL or Parquet into a teacher's store, bit for bit,
and every fault refused with its file, row and fix."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from distill.data.corpus import Corpus
from distill.errors import UserError
from distill.imported_logits import imported_store, read_imported
from distill.logit_store import LogitStore
from distill.logit_tables import export_logits

LABELS = ["comp.graphics", "rec.autos", "sci.space"]
IDS = {"train": [10, 11, 12, 13, 14], "val": [20, 21], "test": [33, 31, 32]}


def splits() -> dict[str, Corpus]:
    return {split: Corpus(np.asarray(ids, np.int64), [f"text {i}" for i in ids], np.asarray([i % 3 for i in ids]), LABELS)
            for split, ids in IDS.items()}


def teacher_store() -> LogitStore:
    """A store whose logits need every digit: random, negative zero, tiny, huge, a subnormal."""
    rng = np.random.default_rng(0)
    logits = {split: rng.normal(0, 3, (len(ids), 3)).astype(np.float32) for split, ids in IDS.items()}
    logits["train"][0] = [-0.0, np.float32(1e-40), np.float32(3.4e38)]
    logits["train"][1] = [np.float32(0.1), np.nextafter(np.float32(1), np.float32(2)), -np.float32(7.0000005)]
    return LogitStore.from_predictions(splits(), logits, {"kind": "teacher", "model": "teacher"})


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_a_store_round_trips_bit_for_bit(tmp_path: Path, suffix: str) -> None:
    store = teacher_store()
    path = tmp_path / f"logits{suffix}"
    export_logits(store, path)
    back = imported_store(path, splits())
    assert back.manifest["label_names"] == LABELS and back.source["imported"] == path.name
    assert back.source["kind"] == "teacher" and len(back.source["file_sha256"]) == 64
    for split in IDS:
        np.testing.assert_array_equal(back.ids[split], store.ids[split])
        assert back.logits[split].dtype == np.float32
        assert back.logits[split].view(np.uint32).tobytes() == store.logits[split].view(np.uint32).tobytes()
    back.verify_splits(splits())


def rows_by_id() -> list[dict]:
    return [{"id": i, LABELS[0]: 0.5, LABELS[1]: -1.0, LABELS[2]: float(i)} for ids in IDS.values() for i in ids]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_class_columns_in_any_order_land_in_the_corpus_order(tmp_path: Path) -> None:
    rows = [{"id": i, LABELS[2]: float(i), LABELS[0]: 0.5, LABELS[1]: -1.0} for ids in IDS.values() for i in reversed(ids)]
    logits, source = read_imported(write_jsonl(tmp_path / "l.jsonl", rows), LABELS, {s: np.asarray(i) for s, i in IDS.items()})
    np.testing.assert_array_equal(logits["test"], [[0.5, -1.0, 33.0], [0.5, -1.0, 31.0], [0.5, -1.0, 32.0]])
    assert source["values"] == "logits" and source["classes"] == [LABELS[2], LABELS[0], LABELS[1]]


def test_probabilities_become_log_probabilities_in_the_order_teacher_classes_gives(tmp_path: Path) -> None:
    order = [LABELS[1], LABELS[2], LABELS[0]]
    rows = ["id,probabilities"] + [f'{i},"[0.2, 0.0, 0.8]"' for ids in IDS.values() for i in ids]
    path = tmp_path / "p.csv"
    path.write_text("\n".join(rows) + "\n")
    logits, source = read_imported(path, LABELS, {s: np.asarray(i) for s, i in IDS.items()}, classes=order)
    probabilities = np.exp(logits["val"].astype(np.float64))
    np.testing.assert_allclose(probabilities, [[0.8, 0.2, 0.0]] * 2, atol=1e-7)  # comp.graphics, rec.autos, sci.space
    assert np.isfinite(logits["val"]).all() and source["values"] == "probabilities"


def fault(tmp_path: Path, rows: list[dict], classes: list[str] | None = None, suffix: str = ".jsonl") -> str:
    path = tmp_path / f"faulty{suffix}"
    if suffix == ".parquet":
        import pyarrow
        import pyarrow.parquet

        pyarrow.parquet.write_table(pyarrow.Table.from_pylist(rows), path)
    else:
        write_jsonl(path, rows)
    with pytest.raises(UserError) as refused:
        read_imported(path, LABELS, {s: np.asarray(i) for s, i in IDS.items()}, classes)
    message = str(refused.value)
    assert str(path) in message and message.count("\n") <= 1
    return message


def test_every_fault_is_refused_with_its_file_row_and_fix(tmp_path: Path) -> None:
    rows = rows_by_id()
    assert "no row for id 32 of split 'test' (1 of its 3 examples missing); give a row for every example" in fault(
        tmp_path, [row for row in rows if row["id"] != 32])
    assert "line 11: id 31 repeats line 9; give each example one row" in fault(tmp_path, [*rows, rows[8]])
    assert "line 11: id 99 is no example of this corpus (1 such rows)" in fault(tmp_path, [*rows, {**rows[0], "id": 99}])
    assert "line 2: 'sci.space' is nan, not a finite number" in fault(tmp_path, [rows[0], {**rows[1], LABELS[2]: float("nan")}])
    assert "line 1: 'rec.autos' is inf, not a finite number" in fault(tmp_path, [{**rows[0], LABELS[1]: float("inf")}])
    assert "row 3: 'comp.graphics' is -inf" in fault(tmp_path, [*rows[:2], {**rows[2], LABELS[0]: float("-inf")}], suffix=".parquet")
    assert "line 4: id 'x13' is not an integer" in fault(tmp_path, [*rows[:3], {**rows[3], "id": "x13"}])
    assert "line 1: columns ['sci.spaec'] are not classes of the corpus" in fault(
        tmp_path, [{"sci.spaec" if key == LABELS[2] else key: value for key, value in row.items()} for row in rows])
    assert "values for 2 classes, the corpus has 3: none for ['sci.space']" in fault(
        tmp_path, [{key: value for key, value in row.items() if key != LABELS[2]} for row in rows])
    assert "line 5: has no column for ['rec.autos']" in fault(
        tmp_path, [row if row["id"] != 14 else {key: v for key, v in row.items() if key != LABELS[1]} for row in rows])


def test_list_faults_are_refused_too(tmp_path: Path) -> None:
    listed = [{"id": i, "logits": [0.1, 0.2, 0.3]} for ids in IDS.values() for i in ids]
    assert "set teacher.classes=[comp.graphics, rec.autos, sci.space] in the order" in fault(tmp_path, listed)
    assert "names ['talk.politics']" in fault(tmp_path, listed, classes=[LABELS[0], LABELS[1], "talk.politics"])
    assert "line 3: 'logits' is 2 values, not a list of 3" in fault(
        tmp_path, [*listed[:2], {"id": 12, "logits": [1.0, 2.0]}, *listed[3:]], classes=LABELS)
    probable = [{"id": i, "probabilities": [0.2, 0.3, 0.5]} for ids in IDS.values() for i in ids]
    probable[6] = {"id": 21, "probabilities": [0.2, 0.3, 0.4]}
    assert "line 7: probabilities sum to 0.900000, not 1 (tolerance 0.001)" in fault(tmp_path, probable, classes=LABELS)
    probable[6] = {"id": 21, "probabilities": [0.2, 0.3, 0.5 + 5e-4]}  # within the tolerance
    logits, _ = read_imported(write_jsonl(tmp_path / "ok.jsonl", probable), LABELS,
                              {s: np.asarray(i) for s, i in IDS.items()}, LABELS)
    assert logits["val"].shape == (2, 3)


def test_no_file_or_another_format_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"set teacher.imported=<file.csv\|.jsonl\|.parquet>"):
        read_imported(None, LABELS, {})
    with pytest.raises(UserError, match=r"the file must end in .csv, .jsonl or .parquet"):
        read_imported(tmp_path / "logits.npz", LABELS, {})
    with pytest.raises(UserError, match=r"logits.csv does not exist: set teacher.imported"):
        read_imported(tmp_path / "logits.csv", LABELS, {})
