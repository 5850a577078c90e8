"""Read a run folder: every stage's record and test probabilities, and latency records."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from distill.data.corpus import Corpus
from distill.logit_store import LogitStore, LogitStoreError
from distill.probability import softmax

SPLIT = "test"


@dataclass(frozen=True, eq=False)
class Stage:
    """A completed stage: its metrics.json record and its test probabilities in corpus order."""

    name: str
    record: dict
    manifest: dict
    probs: np.ndarray

    @property
    def role(self) -> str:
        return self.record.get("role", "?")

    @property
    def metrics(self) -> dict:
        return self.record.get("metrics", {})

    @property
    def val_acc(self) -> float | None:
        return self.metrics.get("val/acc_best", self.metrics.get("val/acc"))


def stage_order(run_dir: Path, plan: dict[str, list[str]]) -> list[str]:
    """Stages as the pipeline ran them: its plan, then comparison.json, then any other folder."""
    names = list(plan)
    comparison = run_dir / "comparison.json"
    if comparison.is_file():
        names += json.loads(comparison.read_text())
    names += sorted(path.parent.name for path in run_dir.glob("*/metrics.json"))
    return list(dict.fromkeys(names))


def load_stages(run_dir: Path, names: list[str], corpus: Corpus) -> tuple[dict[str, Stage], list[dict]]:
    """Completed stages with usable logits, and every other stage with the reason it is left out."""
    stages, left_out = {}, []
    for name in names:
        metrics_file, logits_file = run_dir / name / "metrics.json", run_dir / name / "logits.npz"
        if not metrics_file.is_file():
            left_out.append({"stage": name, "status": "not run", "reason": "no metrics.json"})
            continue
        record = json.loads(metrics_file.read_text())
        status = record.get("status", "completed")
        if status != "completed":
            left_out.append({"stage": name, "status": status, "reason": record.get("error", "")})
        elif record.get("role") == "transfer":
            left_out.append({"stage": name, "status": "no model", "reason": "labels the transfer set: nothing to score"})
        elif not logits_file.is_file():
            left_out.append({"stage": name, "status": "no logits", "reason": "no logits.npz to score"})
        else:
            try:
                store = LogitStore.load(logits_file)
                if store.manifest["label_names"] != corpus.label_names:
                    raise LogitStoreError(f"its labels {store.manifest['label_names']} are not the run's")
                probs = softmax(store.aligned(SPLIT, corpus.ids))
            except LogitStoreError as mismatch:
                left_out.append({"stage": name, "status": "mismatch", "reason": f"logits.npz: {mismatch}"})
                continue
            stages[name] = Stage(name, record, store.manifest, probs)
    return stages, left_out


def _records(node: Any) -> Iterator[dict]:
    """Every latency record nested anywhere in inference.json (a list, a dict of them, ...)."""
    if isinstance(node, dict):
        if "model" in node and "latency_ms_p50" in node:
            yield node
            return
        node = list(node.values())
    if isinstance(node, list):
        for item in node:
            yield from _records(item)


def same_folder(a: str | Path, b: str | Path) -> bool:
    return Path(a).expanduser().resolve() == Path(b).expanduser().resolve()


def load_latency(paths: Sequence[Path], run_dir: Path | None = None,
                 checkpoints: dict[str, str] | None = None) -> dict[str, dict]:
    """Each model's fastest batch-1 median latency (ms per document), the runtime and the file that gave it.

    Several files: a stage re-trained after the run was timed is re-timed in an invocation of its own.
    Given ``run_dir``, only measurements of that run's models count: each record names the checkpoint
    (SHA-256) it loaded, and counts when that is the stage's (``checkpoints``: stage -> SHA-256), even if
    the file timed the same folder before the stage was re-trained; a record or stage without one (a
    teacher timed as its architecture, the students' ensemble) counts when the file timed this folder.
    """
    best: dict[str, dict] = {}
    for path in paths:
        document = json.loads(Path(path).read_text())
        same_run = run_dir is not None and isinstance(document, dict) and "run" in document and same_folder(
            document["run"], run_dir)
        for record in _records(document):
            if record.get("batch_size", 1) != 1 or record["latency_ms_p50"] is None:
                continue
            loaded, stage = record.get("checkpoint_sha256"), (checkpoints or {}).get(record["model"])
            if run_dir is not None and not (loaded == stage if loaded and stage else same_run):
                continue
            model, latency = record["model"], float(record["latency_ms_p50"])
            if model not in best or latency < best[model]["ms"]:
                best[model] = {"ms": latency, "runtime": record.get("runtime"), "source": str(path)}
    return best
