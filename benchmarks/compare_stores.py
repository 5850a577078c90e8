"""How far apart two logit stores are: per split, the largest difference of a logit, examples matched
by id and classes by name.

    python benchmarks/compare_stores.py A/logits.npz B/logits.npz [--out benchmarks/results/NAME.json]

For a teacher brought as a Hugging Face folder against the store this project made of the same
model: its labels may be listed in another order, so columns are matched by class name.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from distill.atomic import write_text
from distill.errors import UserError
from distill.logit_store import LogitStore


def differences(first: LogitStore, second: LogitStore) -> dict[str, float]:
    """Largest absolute logit difference per shared split."""
    names, other = first.manifest["label_names"], second.manifest["label_names"]
    if sorted(names) != sorted(other):
        raise UserError(f"the stores have other classes ({names} against {other}): nothing to compare")
    columns = [other.index(name) for name in names]
    shared = [split for split in first.ids if split in second.ids]
    return {split: float(np.abs(first.aligned(split, first.ids[split])
                                - second.aligned(split, first.ids[split])[:, columns]).max()) for split in shared}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("first", type=Path)
    parser.add_argument("second", type=Path)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    first, second = LogitStore.load(args.first), LogitStore.load(args.second)
    found = differences(first, second)
    print("| split | max abs difference |\n|---|---:|")
    for split, value in found.items():
        print(f"| {split} | {value:.3g} |")
    if args.out:
        stores = {"first": first.source.get("kind"), "second": second.source.get("kind")}
        write_text(args.out, json.dumps({"stores": stores, "max_abs_difference": found}, indent=2) + "\n")
        print(f"-> {args.out}")


if __name__ == "__main__":
    main()
