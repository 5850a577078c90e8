"""``python -m distill.report <run>`` / ``distill-report``: the report of a pipeline run.

Reads the run's ``.hydra/config.yaml`` for its data and stage plan, then ``distill.report``
collects, scores and renders every stage from its logits into ``<run>/report/``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from omegaconf import OmegaConf

from distill.cli.config import load_splits
from distill.cli.plan import plan_stages
from distill.console import user_errors
from distill.errors import UserError
from distill.report import build_report, write_report

DEFAULT_INFERENCE = Path("benchmarks/results/inference.json")


def report(run_dir: Path, inference: Sequence[Path], out: Path | None) -> dict:
    config = run_dir / ".hydra" / "config.yaml"
    if not config.is_file():
        raise UserError(f"{run_dir} is not a pipeline run folder (no .hydra/config.yaml): "
                        "give a folder written by pipeline.py, e.g. logs/pipeline/<time>")
    missing = [str(path) for path in inference if not Path(path).is_file()]
    if missing:
        raise UserError(f"no inference file {', '.join(missing)}: write it with "
                        f"`python benchmarks/inference.py {run_dir}`, or leave --inference out")
    cfg = OmegaConf.load(config)
    # the whole plan, not the last call's pipeline.only: a run folder outlives its partial calls
    result = build_report(run_dir, load_splits(cfg)["test"], plan_stages(cfg), inference)
    target = out or run_dir / "report"
    write_report(result, target)
    print(f"report: {target / 'report.md'}")
    return result


def main(argv: list[str] | None = None) -> None:
    """The console script ``distill-report``: returns nothing, since a console script exits with
    what its function returns."""
    parser = argparse.ArgumentParser(prog="python -m distill.report", description=__doc__.splitlines()[0],
                                     usage="%(prog)s <run> [--inference FILE ...] [--out DIR] [--debug]")
    parser.add_argument("run_dir", type=Path, help="a pipeline run folder (logs/pipeline/<time>)")
    parser.add_argument("--inference", type=Path, nargs="+", default=None,
                        help=f"latency records, one file or more (default {DEFAULT_INFERENCE} when it exists)")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default <run>/report)")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    args = parser.parse_args(argv)
    inference = args.inference or ([DEFAULT_INFERENCE] if DEFAULT_INFERENCE.is_file() else [])
    with user_errors(parser, args.debug):
        report(args.run_dir, inference, args.out)
