"""Measure one model in one runtime, alone in this process: speed, peak memory, test accuracy.

    python benchmarks/inference_worker.py spec.json result.json

``benchmarks/inference.py`` starts one such process per (model, runtime), so peak resident
memory is that model's and its runtime's alone (interpreter and libraries included, as a
server would pay them). The peak is read after the timed runs, before the full test split
is loaded, so it covers serving the benchmark documents, not holding the whole test set.
The spec (JSON) names the members (a folder and a runtime each, loaded by
``distill.serving.load``), their ensemble weights and how they combine (``average`` or
``cascade``), the thread count, the benchmark texts and the test split file (null: accuracy
not computed).
"""

from __future__ import annotations

import json
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from distill.atomic import write_text
from distill.serving import LoadedModel, average, cascade, load

Proba = Callable[[list[str]], np.ndarray]

BATCH_SIZE = 64
WARMUP_DOCS = 3


def seconds(call: Proba, texts: list[str]) -> float:
    started = time.perf_counter()
    call(texts)
    return time.perf_counter() - started


def batches(texts: list[str], size: int = BATCH_SIZE) -> list[list[str]]:
    return [texts[start : start + size] for start in range(0, len(texts), size)]


def latency_ms(proba: Proba, texts: list[str]) -> tuple[float, float]:
    """p50 and p95 of one-document calls over ``texts``, after a few warm-up calls."""
    for text in texts[:WARMUP_DOCS]:
        proba([text])
    times = [seconds(proba, [text]) * 1e3 for text in texts]
    return float(np.percentile(times, 50)), float(np.percentile(times, 95))


def throughput(proba: Proba, texts: list[str], repeats: int) -> float:
    """Documents per second through ``BATCH_SIZE``-document calls: the median of ``repeats`` passes."""
    proba(texts[:BATCH_SIZE])  # warm-up at the batch shape
    rates = [len(texts) / sum(seconds(proba, batch) for batch in batches(texts)) for _ in range(repeats)]
    return float(np.median(rates))


def accuracy(proba: Proba, texts: list[str], labels: list[int]) -> float:
    predicted = np.concatenate([proba(batch).argmax(axis=1) for batch in batches(texts)])
    return float(np.mean(predicted == np.asarray(labels)))


def peak_rss_mb() -> float:
    """This process's peak resident set so far, in MB.

    Linux's ``VmHWM`` belongs to this address space alone. ``ru_maxrss`` would not do: it
    keeps the parent's peak across fork and exec, so every worker would report at least the
    benchmark driver's memory. Elsewhere (macOS: bytes) ``ru_maxrss`` is the fallback.
    """
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def load_members(spec: dict) -> LoadedModel:
    """One member, or the students' ensemble of two: their weighted average, or its cascade."""
    members = [load(member["path"], member["runtime"], spec["threads"]) for member in spec["members"]]
    if len(members) == 1:
        return members[0]
    if spec["combine"] == "cascade":
        return cascade("ensemble", *members, spec["weights"][0])
    return average("ensemble", members, spec["weights"])


def measure(spec: dict) -> dict:
    predictor = load_members(spec)
    texts = json.loads(Path(spec["bench"]).read_text())
    p50, p95 = latency_ms(predictor.proba, texts)
    result = {
        "latency_ms_p50": p50,
        "latency_ms_p95": p95,
        "throughput_docs_s": throughput(predictor.proba, texts, spec["repeats"]),
        "peak_rss_mb": peak_rss_mb(),
        "params": predictor.params,
        "weights_mb": predictor.weights_mb,
        "size_mb": predictor.size_mb,
        "test_acc": None,
    }
    if spec["test"] is not None:
        test = json.loads(Path(spec["test"]).read_text())
        result["test_acc"] = accuracy(predictor.proba, test["texts"], test["labels"])
    return result


def main(argv: list[str]) -> None:
    spec_path, result_path = argv
    write_text(result_path, json.dumps(measure(json.loads(Path(spec_path).read_text()))))


if __name__ == "__main__":
    main(sys.argv[1:])
