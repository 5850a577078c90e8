"""Two CPU processes (gloo), each labelling its own shards with a tiny BERT; rank 0 merges by id."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from conftest import ROOT
from hf_models import documents, load_classifier, save_tiny_classifier
from distill.data.unlabelled import UnlabelledFile
from distill.labelling import identity, label
from distill.labelling_backends import TorchLabeller

WORKER = ROOT / "tests" / "labelling_worker.py"


def test_two_ranks_label_disjoint_shards_merged_by_id_as_one_process_would(tmp_path: Path) -> None:
    model = save_tiny_classifier(tmp_path / "model")
    file = tmp_path / "more.jsonl"
    file.write_text("".join(json.dumps({"text": text}) + "\n" for text in documents(30, seed=3)))
    folder, out, init = tmp_path / "shards", tmp_path / "merged.npz", tmp_path / "init"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
    ranks = [subprocess.Popen([sys.executable, str(WORKER), "ddp", str(file), str(folder), str(model), str(rank),
                               "2", str(init), str(out)], env=env, stderr=subprocess.PIPE) for rank in (0, 1)]
    for rank in ranks:
        _, err = rank.communicate(timeout=300)
        assert rank.returncode == 0, err.decode()[-3000:]
    shards = {int(path.stem.split("-")[1]): np.load(path)["ids"] for path in folder.glob("shard-*.npz")}
    assert sorted(shards) == list(range(8))  # 30 documents, 4 a shard
    assert len(np.unique(np.concatenate(list(shards.values())))) == 30  # disjoint

    source = UnlabelledFile(str(file), chunk_size=3)
    scanned = source.scan(np.arange(10))
    ids, logits = label(source.batches(scanned), TorchLabeller(load_classifier(model)), tmp_path / "one",
                        identity("tiny", 32, scanned.fingerprint()), scanned.documents, shard_size=4, batch_size=3)
    with np.load(out) as merged:
        assert np.array_equal(merged["ids"], ids)
        assert np.abs(merged["logits"] - logits).max() < 1e-5 and np.unique(logits.argmax(1)).size > 1
