"""Hydra entry points' side of ``distill.console``: a user error ends the command in two lines,
in a single run and in each job of a multirun alike, and a multirun ends by naming its folder."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig

from distill.console import quiet_third_party, show_tracebacks
from distill.errors import UserError

# jobs of this process's multirun that ended in a user error (the in-process launcher; another
# launcher's jobs are found by their metrics.json)
FAILED_JOBS: list[str] = []


def quiet_unless_verbose() -> None:
    """Filter known third-party noise, unless the command asked for everything (``hydra.verbose=true``)."""
    if not (HydraConfig.initialized() and HydraConfig.get().verbose):
        quiet_third_party()


def report_user_error(error: Exception, output_dir: str) -> bool:
    """Print a UserError as its message and the failed run's folder. A single run then exits 2; a
    multirun job returns True, so that the sweep goes on and ``SweepFolder`` fails it at the end.
    Anything else returns False, to be raised with its traceback."""
    if not isinstance(error, UserError) and isinstance(error.__cause__, UserError):
        error = error.__cause__  # raised inside hydra.utils.instantiate, which wraps it
    if not isinstance(error, UserError) or show_tracebacks():
        return False
    multirun = HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN
    print(f"error: {error}\n(the failed {'job' if multirun else 'run'}'s folder: {output_dir})", file=sys.stderr)
    if not multirun:
        sys.exit(2)
    FAILED_JOBS.append(Path(output_dir).name)
    return True


def failed_jobs(sweep_dir: Path) -> list[str]:
    """The jobs of a sweep folder that failed: those this process saw, and those whose metrics.json says so."""
    recorded = {path.parent.name for path in sweep_dir.glob("*/metrics.json")
                if json.loads(path.read_text()).get("status") == "failed"}
    return sorted(recorded | set(FAILED_JOBS), key=lambda name: (len(name), name))


class SweepFolder(Callback):
    """``hydra.callbacks``: the last lines of a multirun say where it wrote and how to summarise it;
    a sweep with a failed job exits 2."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        FAILED_JOBS.clear()  # another sweep's, run earlier in this process

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        folder = Path(config.hydra.sweep.dir)
        failed = failed_jobs(folder)
        if failed:
            print(f"failed jobs: {', '.join(failed)} (the others finished)")
        print(f"sweep folder: {folder}\nits summary: python -m distill.sweep_report {folder}")
        if failed:
            sys.exit(2)
