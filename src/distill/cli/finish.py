"""What a pipeline does after its table (``pipeline.finish``): the steps that read the finished run
folder, so an experiment ends ready to look at and to serve. Each is the console script of the
same name run in-process: ``report`` (distill-report), ``export`` (distill-export, ONNX then web),
``serve`` (prints the distill-serve command; serving blocks, so the pipeline does not start it)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from distill.errors import UserError

log = logging.getLogger("distill")


def report(run: Path) -> None:
    from distill.cli.report import report as write_report

    write_report(run, [], None)


def export(run: Path) -> None:
    from distill.console import quiet_third_party
    from distill.export import export_run
    from distill.run_folder import networks
    from distill.web_export import is_tfidf_student

    quiet_third_party()  # the ONNX exporter's notes, as distill-export silences them
    found = networks(run)
    if found:
        export_run(run)
    if any(is_tfidf_student(stage) for stage in found.values()):
        export_run(run, format="web")


def serve(run: Path) -> None:
    log.info(f"serve it: distill-serve {run}")


STEPS: dict[str, Callable[[Path], None]] = {"report": report, "export": export, "serve": serve}


def finish(steps: list[str], run: Path) -> None:
    """Run ``steps`` (names of ``STEPS``) on the run folder, in order."""
    unknown = [step for step in steps if step not in STEPS]
    if unknown:
        raise UserError(f"pipeline.finish names {unknown}: choose from {list(STEPS)}")
    for step in steps:
        STEPS[step](run)
