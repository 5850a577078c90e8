"""Labelling at scale: a teacher's logits on a stream of documents, in shards that survive a kill.

The stream of (ids, texts) chunks is cut into shards of ``shard_size`` documents, in stream
order. Each finished shard is written atomically (``distill.atomic``) as a small ``.npz`` of ids
and float32 logits, so a killed run resumes from its last finished shard: finished shards are
read past without running the model. The folder's ``manifest.json`` records what is labelled
(the teacher's weights hash, its ``max_length``, the input's fingerprint, the shard size); a
resume with another model, file or shard size is refused instead of mixing their logits.
Distributed: rank r of W labels shards r, r + W, ...; after the caller's barrier, rank 0
merges every shard by id. The ranks need not match the run that wrote the shards.
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from distill.atomic import atomic_path, write_text
from distill.errors import UserError

Labeller = Callable[[list[str]], np.ndarray]  # texts -> (len(texts), classes) logits
MANIFEST = "manifest.json"


def identity(teacher_sha256: str, max_length: int, source: dict, quantized: bool = False) -> dict:
    """What a labelling's logits depend on. PyTorch and ONNX Runtime in float32 agree to ~1e-6, so
    the backend is not part of it (a resume may pick another); int8 weights change the logits."""
    return {"teacher_sha256": teacher_sha256, "max_length": max_length, "source": source, "int8": quantized}


def shard_path(folder: Path, index: int) -> Path:
    return folder / f"shard-{index:06d}.npz"


def open_folder(folder: str | Path, identity: dict) -> Path:
    """``folder``, with a manifest recording ``identity`` (JSON-able); refused when it already
    holds shards of something else. Every rank may call it: each writes the same manifest."""
    folder = Path(folder)
    path = folder / MANIFEST
    recorded = json.loads(path.read_text()) if path.is_file() else None
    wanted = json.loads(json.dumps(identity, sort_keys=True))
    if recorded is not None and recorded != wanted:
        changed = sorted(key for key in set(recorded) | set(wanted) if recorded.get(key) != wanted.get(key))
        raise UserError(f"{folder} holds labels of another labelling ({', '.join(changed)} differ): "
                        "delete the folder to label afresh, or label into another folder")
    if recorded is None:
        write_text(path, json.dumps(wanted, indent=1, sort_keys=True))
    return folder


def shards(batches: Iterable[tuple[np.ndarray, list[str]]], shard_size: int
           ) -> Iterator[tuple[int, np.ndarray, list[str]]]:
    """(index, ids, texts) of consecutive ``shard_size`` documents of a stream of chunks."""
    ids: list[np.ndarray] = []
    texts: list[str] = []
    index = 0
    for chunk_ids, chunk_texts in batches:
        ids.append(np.asarray(chunk_ids, dtype=np.int64))
        texts.extend(chunk_texts)
        while len(texts) >= shard_size:
            joined = np.concatenate(ids)
            yield index, joined[:shard_size], texts[:shard_size]
            ids, texts, index = [joined[shard_size:]], texts[shard_size:], index + 1
    if texts:
        yield index, np.concatenate(ids), texts


def label_shards(
    batches: Iterable[tuple[np.ndarray, list[str]]],
    labeller: Labeller,
    folder: str | Path,
    identity: dict,
    documents: int,
    shard_size: int = 10_000,
    batch_size: int = 64,
    rank: int = 0,
    world_size: int = 1,
    progress: bool | None = None,
) -> int:
    """Label this rank's unfinished shards of the stream into ``folder``; returns how many it
    labelled. ``documents`` is the stream's length (``Scanned.documents``): it fixes the shard
    count and the progress bar's total. ``progress``: None shows the bar on a terminal only."""
    if shard_size < 1 or batch_size < 1:
        raise UserError(f"labelling needs a positive shard size and batch size, got {shard_size} and {batch_size}")
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is not one of {world_size} ranks")
    folder = open_folder(folder, {**identity, "shard_size": shard_size, "documents": documents})
    n_shards = math.ceil(documents / shard_size)
    mine = list(range(rank, n_shards, world_size))
    done = [index for index in mine if shard_path(folder, index).is_file()]
    size = [min(shard_size, documents - index * shard_size) for index in range(n_shards)]
    bar = tqdm(total=sum(size[index] for index in mine), initial=sum(size[index] for index in done),
               unit="doc", unit_scale=True, file=sys.stderr, desc=f"labelling (rank {rank}/{world_size})",
               disable=not (sys.stderr.isatty() if progress is None else progress), dynamic_ncols=True)
    labelled, seen = 0, 0
    with bar:
        for index, ids, texts in shards(batches, shard_size):
            seen += len(ids)
            if index % world_size != rank:
                continue
            path = shard_path(folder, index)
            if path.is_file():
                _check_ids(path, ids)
                continue
            logits = _label(texts, labeller, batch_size, bar)
            _write_shard(path, ids, logits)
            labelled += 1
    if seen != documents:
        raise UserError(f"the input held {seen} documents, not the {documents} it was scanned with: it changed "
                        "while labelling; label it again once it stays unchanged")
    return labelled


def _label(texts: list[str], labeller: Labeller, batch_size: int, bar: tqdm) -> np.ndarray:
    """The shard's logits, labelled in batches of similar length (less padding), in input order."""
    order = np.argsort([len(text) for text in texts], kind="stable")
    logits: np.ndarray | None = None
    for start in range(0, len(order), batch_size):
        batch = order[start : start + batch_size]
        values = np.asarray(labeller([texts[i] for i in batch]), dtype=np.float32)
        if values.ndim != 2 or len(values) != len(batch):
            raise ValueError(f"the labeller returned logits of shape {values.shape} for {len(batch)} texts")
        if logits is None:
            logits = np.empty((len(texts), values.shape[1]), dtype=np.float32)
        logits[batch] = values
        bar.update(len(batch))
    return logits


def _write_shard(path: Path, ids: np.ndarray, logits: np.ndarray) -> None:
    with atomic_path(path) as temporary, open(temporary, "wb") as handle:
        np.savez(handle, ids=ids.astype(np.int64), logits=logits.astype(np.float32))
        handle.flush()
        os.fsync(handle.fileno())


def read_shard(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with np.load(path) as shard:
        return shard["ids"], shard["logits"]


def _check_ids(path: Path, ids: np.ndarray) -> None:
    """A finished shard must hold the documents the stream has at its place."""
    if not np.array_equal(read_shard(path)[0], ids):
        raise UserError(f"{path} holds other documents than the input has at its place: delete "
                        f"{path.parent} to label afresh")


def merge(folder: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Every shard of ``folder``, merged by id: (ids ascending, their logits). Refuses a missing
    shard, a shard of the wrong size, and an id in two shards."""
    folder = Path(folder)
    manifest = json.loads((folder / MANIFEST).read_text())
    documents, shard_size = manifest["documents"], manifest["shard_size"]
    n_shards = math.ceil(documents / shard_size)
    missing = [index for index in range(n_shards) if not shard_path(folder, index).is_file()]
    if missing:
        raise UserError(f"{folder}: shards {missing[:5]} of {n_shards} are not labelled yet; "
                        "run the labelling again (it resumes) before merging")
    parts = [read_shard(shard_path(folder, index)) for index in range(n_shards)]
    for index, (ids, _) in enumerate(parts):
        if len(ids) != min(shard_size, documents - index * shard_size):
            raise UserError(f"{shard_path(folder, index)} holds {len(ids)} documents, not its share of "
                            f"{documents}: delete {folder} to label afresh")
    ids = np.concatenate([part_ids for part_ids, _ in parts])
    logits = np.concatenate([part_logits for _, part_logits in parts])
    order = np.argsort(ids, kind="stable")
    ids, logits = ids[order], logits[order]
    repeated = ids[1:][ids[1:] == ids[:-1]]
    if len(repeated):
        raise UserError(f"{folder}: ids {np.unique(repeated)[:5].tolist()} are in more than one shard; "
                        "delete the folder to label afresh")
    return ids, logits


def label(batches: Iterable[tuple[np.ndarray, list[str]]], labeller: Labeller, folder: str | Path, identity: dict,
          documents: int, rank: int = 0, world_size: int = 1, barrier: Callable[[], None] = lambda: None,
          **options: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """``label_shards`` on every rank, the caller's ``barrier``, then rank 0 merges (other ranks
    get None). ``options``: ``label_shards``'s shard_size, batch_size and progress."""
    label_shards(batches, labeller, folder, identity, documents, rank=rank, world_size=world_size, **options)
    barrier()
    return merge(folder) if rank == 0 else None
