"""Subprocess side of the labelling resume test: a slow labeller filling a shard folder, to be killed.

    python tests/labelling_worker.py <file> <folder> <calls log> <shard size> <sleep s>
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hf_models import text_logits  # noqa: E402

from distill.data.unlabelled import UnlabelledFile  # noqa: E402
from distill.labelling import identity, label_shards  # noqa: E402


def slow_labeller(log: Path, pause: float):
    """``text_logits``, ``pause`` seconds per call, each labelled text appended to ``log`` first."""
    def labeller(texts: list[str]) -> np.ndarray:
        with open(log, "a") as handle:
            handle.write("".join(f"{text}\n" for text in texts))
        time.sleep(pause)
        return text_logits(texts)
    return labeller


def main(file: str, folder: str, log: str, shard_size: str, pause: str) -> None:
    source = UnlabelledFile(file, chunk_size=3)
    scanned = source.scan(np.arange(10))
    label_shards(source.batches(scanned), slow_labeller(Path(log), float(pause)), folder,
                 identity("fake", 32, scanned.fingerprint()), scanned.documents, shard_size=int(shard_size),
                 batch_size=2)


if __name__ == "__main__":
    main(*sys.argv[1:])
