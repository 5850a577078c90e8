"""Subprocess side of the labelling tests: one rank labelling a JSONL file into a shard folder.

    python tests/labelling_worker.py fake <file> <folder> <calls log> <shard size> <sleep s>
    python tests/labelling_worker.py ddp <file> <folder> <model folder> <rank> <world size> <init file> <out.npz>
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hf_models import load_classifier, text_logits  # noqa: E402

from distill.data.unlabelled import UnlabelledFile  # noqa: E402
from distill.labelling import identity, label, label_shards  # noqa: E402


def slow_labeller(log: Path, pause: float):
    """``text_logits``, ``pause`` seconds per call, each labelled text appended to ``log`` first."""
    def labeller(texts: list[str]) -> np.ndarray:
        with open(log, "a") as handle:
            handle.write("".join(f"{text}\n" for text in texts))
        time.sleep(pause)
        return text_logits(texts)
    return labeller


def main(mode: str, file: str, folder: str, *rest: str) -> None:
    source = UnlabelledFile(file, chunk_size=3)
    scanned = source.scan(np.arange(10))
    what = identity("fake" if mode == "fake" else "tiny", 32, scanned.fingerprint())
    if mode == "fake":
        log, shard_size, pause = rest
        label_shards(source.batches(scanned), slow_labeller(Path(log), float(pause)), folder, what,
                     scanned.documents, shard_size=int(shard_size), batch_size=2)
        return
    import torch
    import torch.distributed as dist

    from distill.labelling_backends import TorchLabeller

    model, rank, world_size, init, out = rest
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init}", rank=int(rank), world_size=int(world_size))
    merged = label(source.batches(scanned), TorchLabeller(load_classifier(Path(model))), folder, what,
                   scanned.documents, rank=int(rank), world_size=int(world_size), barrier=dist.barrier,
                   shard_size=4, batch_size=3)
    if merged is not None:
        np.savez(out, ids=merged[0], logits=merged[1])
    dist.destroy_process_group()


if __name__ == "__main__":
    main(*sys.argv[1:])
