"""Summarise a Hydra multirun: one row per job, best setting chosen on validation only.

    python -m distill.sweep_report logs/train-multirun/<time> [--metric val/acc_best]

Writes sweep_summary.md, sweep_summary.csv and, when the sweep varies temperature and
alpha, heatmap.png (validation metric per (T, alpha)) into the multirun folder.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import yaml  # noqa: E402

from distill import atomic  # noqa: E402
from distill.console import user_errors  # noqa: E402
from distill.errors import UserError  # noqa: E402

REPORTED = ("val/acc_best", "test/acc", "test/f1_macro", "test/agreement")


def collect_runs(sweep_dir: Path) -> list[dict]:
    """Every job folder of the multirun (those holding .hydra/overrides.yaml)."""
    runs = []
    for overrides_file in sorted(sweep_dir.glob("*/.hydra/overrides.yaml")):
        job_dir = overrides_file.parent.parent
        metrics_file = job_dir / "metrics.json"
        record = json.loads(metrics_file.read_text()) if metrics_file.is_file() else {
            "status": "failed", "error": "no metrics.json (the job died before writing it)"}
        runs.append({
            "job": job_dir.name,
            "overrides": yaml.safe_load(overrides_file.read_text()) or [],
            "status": record.get("status", "completed"),
            "error": record.get("error", ""),
            "distill": record.get("distill") or {},
            "metrics": record.get("metrics", {}),
        })
    if not runs:
        raise UserError(f"{sweep_dir} holds no job folders with .hydra/overrides.yaml: give the folder "
                        "a multirun printed at its end (sweep folder: logs/train-multirun/<time>)")
    return runs


def _score(run: dict, metric: str) -> float:
    value = run["metrics"].get(metric)
    return value if run["status"] == "completed" and value is not None and math.isfinite(value) else -math.inf


def summarise(runs: list[dict], metric: str) -> tuple[list[dict], dict | None]:
    """Runs sorted by ``metric`` (failures last) and the best completed run."""
    ordered = sorted(runs, key=lambda run: _score(run, metric), reverse=True)
    best = ordered[0] if _score(ordered[0], metric) > -math.inf else None
    return ordered, best


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


def write_tables(ordered: list[dict], sweep_dir: Path) -> str:
    header = ["job", "overrides", "status", *REPORTED]
    rows = [[run["job"], " ".join(run["overrides"]), run["status"],
             *(_fmt(run["metrics"].get(key)) for key in REPORTED)] for run in ordered]
    table = io.StringIO(newline="")
    writer = csv.writer(table)
    writer.writerow(header)
    writer.writerows(rows)
    atomic.write_text(sweep_dir / "sweep_summary.csv", table.getvalue())
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(f"`{cell}`" if i == 1 else cell for i, cell in enumerate(row)) + " |" for row in rows]
    failures = [run for run in ordered if run["status"] != "completed"]
    lines += ["", *(f"- job {run['job']} failed: {run['error']}" for run in failures)]
    markdown = "\n".join(lines).rstrip() + "\n"
    atomic.write_text(sweep_dir / "sweep_summary.md", markdown)
    return markdown


def draw_heatmap(runs: list[dict], metric: str, path: Path) -> str:
    """Best ``metric`` per (temperature, alpha); returns the line that says where it is, or why
    there is none (the sweep does not vary both)."""
    cells: dict[tuple[float, float], float] = {}
    for run in runs:
        if run["status"] != "completed" or "temperature" not in run["distill"]:
            continue
        key = (float(run["distill"]["temperature"]), float(run["distill"]["alpha"]))
        cells[key] = max(cells.get(key, -math.inf), _score(run, metric))
    temperatures = sorted({t for t, _ in cells})
    alphas = sorted({a for _, a in cells})
    single = [f"a single {name} value ({', '.join(f'{v:g}' for v in values) or 'none completed'})"
              for name, values in (("temperature", temperatures), ("alpha", alphas)) if len(values) < 2]
    if single:
        return (f"no heatmap: the completed jobs have {' and '.join(single)}; "
                "sweep distill.temperature and distill.alpha over two values or more for one")
    grid = [[cells.get((t, a), math.nan) for a in alphas] for t in temperatures]
    figure, axes = plt.subplots(figsize=(1.2 * len(alphas) + 2, 0.8 * len(temperatures) + 1.5))
    image = axes.imshow(grid, cmap="viridis", aspect="auto")
    axes.set_xticks(range(len(alphas)), [f"{a:g}" for a in alphas])
    axes.set_yticks(range(len(temperatures)), [f"{t:g}" for t in temperatures])
    axes.set_xlabel("alpha (weight of the teacher term)")
    axes.set_ylabel("temperature T")
    for i, row in enumerate(grid):
        for j, value in enumerate(row):
            if math.isfinite(value):
                axes.text(j, i, f"{value:.3f}", ha="center", va="center", color="white", fontsize=8)
    figure.colorbar(image, label=metric)
    axes.set_title(f"{metric} by temperature and alpha")
    figure.tight_layout()
    with atomic.atomic_path(path) as temporary:
        figure.savefig(temporary, format="png", dpi=120)
    plt.close(figure)
    return f"heatmap: {path}"


def main(argv: list[str] | None = None) -> dict | None:
    parser = argparse.ArgumentParser(prog="python -m distill.sweep_report", description=__doc__,
                                     usage="%(prog)s <sweep folder> [--metric M] [--debug]",
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sweep_dir", type=Path, help="a Hydra multirun folder")
    parser.add_argument("--metric", default="val/acc_best", help="selection metric (validation only)")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    args = parser.parse_args(argv)
    with user_errors(parser, args.debug):
        runs = collect_runs(args.sweep_dir)
    ordered, best = summarise(runs, args.metric)
    print(write_tables(ordered, args.sweep_dir))
    print(draw_heatmap(runs, args.metric, args.sweep_dir / "heatmap.png"))
    if best is None:
        print("no job completed")
    else:
        print(f"best on {args.metric}: job {best['job']} ({' '.join(best['overrides'])}): "
              f"{args.metric}={best['metrics'][args.metric]:.4f}, test/acc={_fmt(best['metrics'].get('test/acc'))}")
    return best


if __name__ == "__main__":
    main()
