"""SIGKILL in the middle of a labelling: the resumed run labels only the unfinished shards."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from conftest import ROOT
from hf_models import documents, text_logits
from distill.data.unlabelled import UnlabelledFile
from distill.labelling import identity, label, shard_path

WORKER = ROOT / "tests" / "labelling_worker.py"
SHARD_SIZE = 4


class Counting:
    def __init__(self) -> None:
        self.texts: list[str] = []

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.texts.extend(texts)
        return text_logits(texts)


def test_sigkill_then_resume_relabels_only_unfinished_shards(tmp_path: Path) -> None:
    texts = documents(40, seed=2)
    file = tmp_path / "more.jsonl"
    file.write_text("".join(json.dumps({"text": text}) + "\n" for text in texts))
    folder, log = tmp_path / "shards", tmp_path / "calls.log"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    # 0.3 s per batch of 2: 10 shards take 6 s, and the kill comes after the third is written
    worker = subprocess.Popen([sys.executable, str(WORKER), str(file), str(folder), str(log),
                               str(SHARD_SIZE), "0.3"], env=env, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while len(list(folder.glob("shard-*.npz"))) < 3:
        assert worker.poll() is None, worker.stderr.read().decode()[-2000:]
        assert time.monotonic() < deadline, "no shard written in 2 minutes"
        time.sleep(0.05)
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    finished = sorted(int(path.stem.split("-")[1]) for path in folder.glob("shard-*.npz"))
    assert 3 <= len(finished) < 10 and finished == list(range(len(finished)))  # in order, and not all
    assert worker.returncode == -signal.SIGKILL
    labelled_before = log.read_text().splitlines()
    assert set(texts[: len(finished) * SHARD_SIZE]) <= set(labelled_before)

    source = UnlabelledFile(str(file), chunk_size=3)
    scanned = source.scan(np.arange(10))
    resumed = Counting()
    ids, logits = label(source.batches(scanned), resumed, folder, identity("fake", 32, scanned.fingerprint()),
                        scanned.documents, shard_size=SHARD_SIZE, batch_size=2)
    assert sorted(resumed.texts) == sorted(texts[len(finished) * SHARD_SIZE :])  # finished shards not re-run
    assert not list(folder.glob(".*.tmp"))  # the killed writer's temporary file, if any, was removed
    uninterrupted = label(source.batches(scanned), Counting(), tmp_path / "again", identity("fake", 32,
                          scanned.fingerprint()), scanned.documents, shard_size=SHARD_SIZE, batch_size=2)
    assert np.array_equal(ids, uninterrupted[0]) and np.array_equal(logits, uninterrupted[1])
    assert np.array_equal(logits, text_logits(texts)) and shard_path(folder, 9).is_file()
