"""Unlabelled text through ``data.unlabelled_file`` against the ``data.labelled_fraction`` route.

    python benchmarks/unlabelled_evidence.py write --archive ../shared/data/20news-bydate.tar.gz --out <folder>
    python benchmarks/unlabelled_evidence.py compare <fraction run folder> <unlabelled run folder>

``write`` takes the quickstart's setting (``experiment=quickstart``: 4 newsgroups, 1 training
label in 10, seed 42) and writes its split as files: ``train.csv`` the labelled 10% (the very
documents ``Corpus.keep_labels`` keeps), ``val.csv`` and ``test.csv`` the quickstart's val and
test, ``unlabelled.jsonl`` the other 90% of train's texts without labels, each row with its
original id. It then reads them back the CSV way (``data=csv`` with ``data.val_file``,
``data.id_column=id`` and ``data.unlabelled_file``) and checks that every split, and the
unlabelled set, holds the same ids and texts as the quickstart's, and prints the overrides that
select them. ``compare`` reads the ``comparison.json`` of a pipeline run of each route and
prints their test accuracies side by side, with the largest difference between students of the
same name. Each writes JSON under ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import numpy as np
from hydra import compose, initialize_config_dir

from distill.atomic import write_text
from distill.cli.config import CONF_DIR, data_module, load_splits
from distill.data.corpus import Corpus

RESULTS = Path(__file__).resolve().parent / "results"
TOLERANCE = 0.01  # the "equals within 0.01"
STUDENT_KEYS = ("val/acc_best", "test/acc", "test/agreement")


def compose_cfg(overrides: list[str]):
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose(config_name="train", overrides=overrides)


def labelled_part(splits: dict[str, Corpus], fraction: float, seed: int) -> tuple[Corpus, Corpus]:
    """(the training examples whose labels ``labelled_fraction`` keeps, the rest), in train's order:
    the same draw a student's data module makes (``Corpus.keep_labels``)."""
    kept = splits["train"].keep_labels(fraction, seed).labels >= 0
    return splits["train"].subset(np.flatnonzero(kept)), splits["train"].subset(np.flatnonzero(~kept))


def write_csv(path: Path, corpus: Corpus) -> None:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text", "label"])
        for id_, text, label in zip(corpus.ids, corpus.texts, corpus.labels):
            writer.writerow([int(id_), text, corpus.label_names[label]])


def write_files(splits: dict[str, Corpus], fraction: float, seed: int, out: Path) -> dict[str, Path]:
    """The split as files (see the module's docstring); returns {name: path}."""
    out.mkdir(parents=True, exist_ok=True)
    labelled, rest = labelled_part(splits, fraction, seed)
    paths = {name: out / f"{name}.csv" for name in ("train", "val", "test")}
    for name, corpus in (("train", labelled), ("val", splits["val"]), ("test", splits["test"])):
        write_csv(paths[name], corpus)
    paths["unlabelled"] = out / "unlabelled.jsonl"
    lines = [json.dumps({"id": int(id_), "text": text}) for id_, text in zip(rest.ids, rest.texts)]
    paths["unlabelled"].write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return paths


def csv_overrides(paths: dict[str, Path]) -> list[str]:
    """What selects the written split instead of the quickstart's data settings."""
    return ["data=csv", f"data.train_file={paths['train']}", f"data.val_file={paths['val']}",
            f"data.test_file={paths['test']}", "data.id_column=id", f"data.unlabelled_file={paths['unlabelled']}"]


def csv_route(overrides: list[str]) -> tuple[dict[str, Corpus], Corpus]:
    """The splits and the unlabelled set as ``data=csv`` reads them."""
    cfg = compose_cfg(overrides)
    splits = load_splits(cfg)
    source = data_module(cfg).unlabelled()
    scanned = source.scan(np.concatenate([corpus.ids for corpus in splits.values()]))
    return splits, source.corpus(scanned, splits["train"].label_names)


def differences(expected: dict[str, Corpus], got: dict[str, Corpus]) -> list[str]:
    """What differs between two sets of corpora (ids, texts, labels, label names), per name."""
    found = []
    for name, corpus in expected.items():
        other = got[name]
        for field in ("ids", "labels"):
            if not np.array_equal(getattr(corpus, field), getattr(other, field)):
                found.append(f"{name}: {field}")
        if corpus.texts != other.texts:
            found.append(f"{name}: texts")
        if corpus.label_names != other.label_names:
            found.append(f"{name}: label names {corpus.label_names} != {other.label_names}")
    return found


def write(args: argparse.Namespace) -> dict:
    base = ["experiment=quickstart", f"data.archive={args.archive}", *args.overrides]
    cfg = compose_cfg(base)
    fraction, seed = cfg.data.labelled_fraction, cfg.data.seed
    splits = load_splits(cfg)
    paths = write_files(splits, fraction, seed, Path(args.out))
    overrides = csv_overrides(paths)
    got, unlabelled = csv_route([*overrides, f"seed={cfg.seed}"])  # the files alone: no quickstart data settings
    labelled, rest = labelled_part(splits, fraction, seed)
    rest = Corpus(rest.ids, rest.texts, np.full(len(rest), -1, dtype=np.int64), rest.label_names)
    found = differences({"train": labelled, "val": splits["val"], "test": splits["test"], "unlabelled": rest},
                        {**got, "unlabelled": unlabelled})
    rows = {"train (labelled)": len(labelled), "unlabelled": len(rest), "val": len(splits["val"]),
            "test": len(splits["test"])}
    print("| file | examples |\n|---|---:|")
    print("\n".join(f"| {name} | {count} |" for name, count in rows.items()))
    print(f"\nsame ids, texts and labels as the quickstart's splits: {not found}", *found)
    print("select them with:", " ".join(overrides[:-1]), "; and transfer=unlabelled with", overrides[-1])
    return {"setting": base, "labelled_fraction": fraction, "seed": seed, "examples": rows,
            "files": {name: path.name for name, path in paths.items()}, "csv_overrides": overrides,
            "same_splits": not found, "differences": found}


def compare(args: argparse.Namespace) -> dict:
    first, second = args.names
    runs = {name: json.loads((Path(folder) / "comparison.json").read_text())
            for name, folder in ((first, args.fraction_run), (second, args.unlabelled_run))}
    shared = [stage for stage in runs[first] if stage in runs[second] and (not args.stages or stage in args.stages)]
    print("| stage | " + " | ".join(f"{key} ({route})" for key in ("test/acc",) for route in runs) + " | diff |")
    print("|---|---:|---:|---:|")
    rows = {}
    for stage in shared:
        values = [runs[route][stage].get("test/acc") for route in runs]
        diff = None if None in values else abs(values[0] - values[1])
        rows[stage] = {route: {key: runs[route][stage].get(key) for key in STUDENT_KEYS} for route in runs}
        rows[stage]["test_acc_difference"] = diff
        cells = " | ".join("-" if value is None else f"{value:.4f}" for value in [*values, diff])
        print(f"| {stage} | {cells} |")
    worst = max((row["test_acc_difference"] for row in rows.values() if row["test_acc_difference"] is not None),
                default=None)
    print(f"\nlargest test accuracy difference: {worst} (tolerance {TOLERANCE})")
    return {"runs": {first: Path(args.fraction_run).name, second: Path(args.unlabelled_run).name},
            "stages": rows, "largest_difference": worst, "within_tolerance": worst is not None and worst <= TOLERANCE}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    writes = commands.add_parser("write", help="write the quickstart's split as CSV and JSONL files, and check them")
    writes.add_argument("--archive", required=True, help="20news-bydate.tar.gz")
    writes.add_argument("--out", required=True, help="folder for train.csv, val.csv, test.csv, unlabelled.jsonl")
    writes.add_argument("overrides", nargs="*", help="more overrides of the quickstart's setting")
    compares = commands.add_parser("compare", help="test accuracies of the two routes' pipeline runs")
    compares.add_argument("fraction_run")
    compares.add_argument("unlabelled_run")
    compares.add_argument("--names", nargs=2, default=("labelled_fraction", "unlabelled_file"),
                          help="what the two runs are, in the table and the JSON")
    compares.add_argument("--stages", nargs="*", default=None,
                          help="compare these stages only (the routes' hard-label twins differ by design: "
                               "in the labelled_fraction route they also step through the other 90%% of the texts, unlabelled)")
    parser.add_argument("--json", default=None, help="where the JSON goes (default benchmarks/results/...)")
    args = parser.parse_args(argv)
    result = write(args) if args.command == "write" else compare(args)
    path = Path(args.json or RESULTS / f"unlabelled_evidence_{args.command}.json")
    write_text(path, json.dumps(result, indent=2) + "\n")
    print(f"wrote {path}")
    return 0 if result.get("same_splits", result.get("within_tolerance")) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
