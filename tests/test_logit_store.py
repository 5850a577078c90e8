"""The logit store: lookups per split by id, integrity, verification, and files that are not stores."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from distill.data.corpus import Corpus
from distill.logit_store import LogitStore, LogitStoreError, TeacherSpec

LABELS = ["a", "b", "c"]


def corpus(ids: list[int], seed: int = 0) -> Corpus:
    rng = np.random.default_rng(seed)
    return Corpus(np.asarray(ids), [f"text {i}" for i in ids], rng.integers(0, 3, len(ids)), LABELS)


def store(splits: dict[str, Corpus], source: dict | None = None) -> LogitStore:
    """Logits that encode (split, id): row = [split index, id, 0]."""
    logits = {name: np.stack([np.full(len(c), index, np.float32), c.ids.astype(np.float32),
                              np.zeros(len(c), np.float32)], 1) for index, (name, c) in enumerate(splits.items())}
    return LogitStore.from_predictions(splits, logits, source or {"kind": "student", "model": "m"})


def test_ids_repeated_across_splits_are_looked_up_in_their_own_split() -> None:
    splits = {"train": corpus([0, 1, 2, 3]), "test": corpus([3, 2, 1, 0], seed=1)}  # the same ids in both
    logits = store(splits)
    for index, name in enumerate(splits):
        looked_up = logits.aligned(name, np.array([2, 0, 3]))
        np.testing.assert_array_equal(looked_up[:, 0], index)
        np.testing.assert_array_equal(looked_up[:, 1], [2, 0, 3])
    with pytest.raises(LogitStoreError, match="no example with id 9"):
        logits.aligned("test", np.array([1, 9]))
    with pytest.raises(LogitStoreError, match="no 'val' split"):
        logits.aligned("val", np.array([1]))


def test_repeated_ids_inside_a_split_are_refused() -> None:
    ids = {"train": np.array([5, 6, 5])}
    with pytest.raises(LogitStoreError, match=r"repeats example ids \[5\]"):
        LogitStore(ids, {"train": np.zeros((3, 3), np.float32)}, {})


def test_an_edited_manifest_fails_the_checksum(tmp_path: Path) -> None:
    logits = store({"train": corpus([0, 1])})
    logits.manifest["source"]["model"] = "someone else"  # edited after the checksum was taken
    logits.save(tmp_path / "edited.npz")
    with pytest.raises(LogitStoreError, match="edited.npz is corrupt"):
        LogitStore.load(tmp_path / "edited.npz")


def test_verification_compares_ids_not_only_the_recorded_fingerprint() -> None:
    made_for, other = corpus([0, 1, 2]), corpus([7, 8, 9])
    forged = store({"train": made_for})
    forged.manifest["splits"]["train"]["fingerprint"] = other.fingerprint()  # a manifest that claims the data
    with pytest.raises(LogitStoreError, match="split 'train' does not match"):
        forged.only(["train"]).verify_splits({"train": other})


def test_another_tokenizer_is_refused() -> None:
    spec = TeacherSpec(pretrained="tiny", max_length=32, logits="x.npz")
    splits = {"train": corpus([0, 1])}
    source = {"kind": "teacher", "model": "teacher", "pretrained": "tiny", "max_length": 32}
    this = lambda: "sha-of-this-tokenizer"  # noqa: E731  the fingerprint the run's features give
    store(splits, {**source, "tokenizer_sha256": "sha-of-this-tokenizer"}).verify(splits, spec, this)
    with pytest.raises(LogitStoreError, match="another tokenizer"):
        store(splits, {**source, "tokenizer_sha256": "sha-of-another"}).verify(splits, spec, this)


def test_a_classic_models_store_is_accepted_as_a_teacher_on_its_own_data_only() -> None:
    """It records no transformer: the tokenizer is never asked for, only the data is checked."""
    spec = TeacherSpec(pretrained="tiny", max_length=32, logits="x.npz")
    splits = {"train": corpus([0, 1])}
    classic = store(splits, {"kind": "classic", "model": "sk_logreg", "params": {}})
    asked = []
    classic.verify(splits, spec, lambda: asked.append(True) or "sha")
    assert asked == []
    with pytest.raises(LogitStoreError, match="split 'train' does not match"):
        classic.verify({"train": corpus([0, 2])}, spec)


@pytest.mark.parametrize("kind", ["truncated", "foreign npz", "text", "missing"])
def test_a_file_that_is_not_a_store_names_itself_and_the_rebuild_command(kind: str, tmp_path: Path) -> None:
    path = tmp_path / "logits.npz"
    store({"train": corpus([0, 1])}).save(path)
    if kind == "truncated":
        path.write_bytes(path.read_bytes()[:200])
    elif kind == "foreign npz":
        np.savez(path, weights=np.zeros(3))
    elif kind == "text":
        path.write_text("id,logit\n1,0.5\n")
    else:
        path.unlink()
    with pytest.raises(LogitStoreError, match=r"logits\.npz.*python train\.py model=x"):
        LogitStore.load(path, "re-create it with python train.py model=x")


def test_any_flipped_byte_is_a_store_error_or_harmless(tmp_path: Path) -> None:
    """zip, zlib and numpy each notice some corruptions first; every one must read as a LogitStoreError."""
    path = tmp_path / "logits.npz"
    original = store({"train": corpus([0, 1])})
    original.save(path)
    raw, refused = path.read_bytes(), 0
    for offset in range(len(raw)):
        flipped = bytearray(raw)
        flipped[offset] ^= 0xFF
        path.write_bytes(bytes(flipped))
        try:
            loaded = LogitStore.load(path)
        except LogitStoreError:
            refused += 1
            continue
        assert loaded.manifest == original.manifest  # a zip header field nobody reads: the same store
    assert refused > len(raw) // 2


def test_a_format_1_store_is_refused_in_one_line_naming_its_rebuild(tmp_path: Path) -> None:
    """What earlier versions wrote: the source under 'teacher', no manifest checksum."""
    new = store({"train": corpus([0, 1])})
    manifest = {key: value for key, value in new.manifest.items() if key not in ("source", "sha256")}
    manifest |= {"format": 1, "teacher": {"pretrained": "sk_logreg"}, "logits_sha256": "x"}
    np.savez(tmp_path / "old.npz", ids_train=new.ids["train"], logits_train=new.logits["train"],
             manifest=np.array(json.dumps(manifest)))
    with pytest.raises(LogitStoreError, match=r"old\.npz is a format-1 logit store.*python train\.py model=x") as error:
        LogitStore.load(tmp_path / "old.npz", "re-create it with python train.py model=x")
    assert "\n" not in str(error.value)


WRITER = """
import sys, numpy as np
from distill.logit_store import LogitStore
from distill.data.corpus import Corpus
n = 400_000
splits = {"train": Corpus(np.arange(n), [""] * n, np.zeros(n, dtype=np.int64), ["a", "b", "c"])}
store = LogitStore.from_predictions(splits, {"train": np.ones((n, 3), np.float32)}, {"kind": "student", "model": "big"})
print("ready", flush=True)
while True:
    store.save(sys.argv[1])
"""


def test_a_writer_killed_mid_write_leaves_the_old_store_intact(tmp_path: Path) -> None:
    path = tmp_path / "logits.npz"
    store({"train": corpus([0, 1, 2])}).save(path)
    before = path.read_bytes()
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "ready"
        deadline = time.time() + 60
        while not list(tmp_path.glob(".logits.npz.*.tmp")) and time.time() < deadline:
            time.sleep(0.001)  # until it is inside a write
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait()
    finally:
        writer.kill()
    leftovers = list(tmp_path.glob(".logits.npz.*.tmp"))
    assert leftovers, "the writer was not caught mid-write"
    current = LogitStore.load(path)  # the old store, or a complete new one: never half a file
    assert path.read_bytes() == before or len(current.ids["train"]) == 400_000
    store({"train": corpus([0, 1, 2])}).save(path)  # the next write cleans up after the dead writer
    assert not list(tmp_path.glob(".logits.npz.*.tmp"))
    assert zipfile.is_zipfile(path)


def test_float16_logits_are_written_in_half_the_bytes_and_read_back_exactly(tmp_path: Path) -> None:
    from distill.logit_store import to_float16

    splits = {"transfer": corpus(list(range(500)))}
    logits = np.random.default_rng(0).normal(0, 5, (500, 3)).astype(np.float32)
    full = LogitStore.from_predictions(splits, {"transfer": logits}, {"kind": "transfer", "model": "m"})
    half = LogitStore.from_predictions(splits, {"transfer": to_float16(logits)}, {"kind": "transfer", "model": "m"})
    full.save(tmp_path / "full.npz")
    half.save(tmp_path / "half.npz")
    with np.load(tmp_path / "full.npz") as a, np.load(tmp_path / "half.npz") as b:
        assert a["logits_transfer"].dtype == np.float32 and b["logits_transfer"].dtype == np.float16
    loaded = LogitStore.load(tmp_path / "half.npz")  # its checksum holds
    np.testing.assert_array_equal(loaded.aligned("transfer", np.arange(500)), to_float16(logits))
    assert not np.array_equal(to_float16(logits), logits)  # the rounding is real, and recorded by the caller
