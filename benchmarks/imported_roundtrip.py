"""A teacher's logit store through CSV, JSONL and Parquet and back: are the logits bit-equal?

    python benchmarks/imported_roundtrip.py logs/pipeline/<time>/teacher/logits.npz

Each format is written by ``distill.logit_tables.export_logits`` and read back by
``distill.imported_logits.read_imported``, the reader of ``model=teacher_imported``, against the
store's own ids and label names. Prints a table and writes JSON (default
``benchmarks/results/imported_roundtrip.json``).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from distill.atomic import write_text
from distill.imported_logits import read_imported
from distill.logit_store import LogitStore
from distill.logit_tables import export_logits

FORMATS = ("csv", "jsonl", "parquet")


def round_trip(store: LogitStore, path: Path) -> dict:
    """Write ``store`` to ``path``, read it back; what differs, per split."""
    start = time.perf_counter()
    export_logits(store, path)
    logits, _ = read_imported(path, store.manifest["label_names"], store.ids)
    seconds = time.perf_counter() - start
    equal = {split: bool(np.array_equal(logits[split].view(np.uint32),
                                        np.asarray(store.logits[split], np.float32).view(np.uint32)))
             for split in store.ids}
    return {"format": path.suffix[1:], "bytes": path.stat().st_size, "seconds": round(seconds, 2),
            "bit_equal": all(equal.values()), "splits": equal}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("store", type=Path)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/imported_roundtrip.json"))
    args = parser.parse_args()
    store = LogitStore.load(args.store)
    with tempfile.TemporaryDirectory() as folder:
        records = [round_trip(store, Path(folder) / f"logits.{suffix}") for suffix in FORMATS]
    rows = {split: len(ids) for split, ids in store.ids.items()}
    print("| format | bytes | seconds | bit-equal |\n|---|---:|---:|---|")
    for record in records:
        print(f"| {record['format']} | {record['bytes']} | {record['seconds']} | {record['bit_equal']} |")
    result = {"store": {"model": store.source.get("model"), "sha256": store.manifest["sha256"], "rows": rows,
                        "classes": len(store.manifest["label_names"])},
              "command": f"python benchmarks/imported_roundtrip.py <{store.source.get('kind')} store>",
              "records": records}
    write_text(args.out, json.dumps(result, indent=2) + "\n")
    print(f"-> {args.out}")


if __name__ == "__main__":
    main()
