"""Hydra entry points' side of ``distill.console``: a user error ends the command in two lines,
in a single run and in a multirun alike, and a multirun ends by naming its folder."""

from __future__ import annotations

import sys
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.errors import CompactHydraException
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig

from distill.console import show_tracebacks
from distill.errors import UserError


class SweepJobError(CompactHydraException):
    """A multirun job's user error. Hydra runs the other jobs, then prints this class of error
    as its message alone, after its own line naming the job's overrides."""


def report_user_error(error: Exception, output_dir: str) -> None:
    """Print a UserError as its message and exit 2 (in a multirun: hand it to Hydra as a
    ``SweepJobError``, so the sweep goes on); anything else is left to raise."""
    if not isinstance(error, UserError) and isinstance(error.__cause__, UserError):
        error = error.__cause__  # raised inside hydra.utils.instantiate, which wraps it
    if not isinstance(error, UserError) or show_tracebacks():
        return
    if HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
        raise SweepJobError(f"error: {error} (the failed job's folder: {output_dir})") from None
    print(f"error: {error}\n(the failed run's folder: {output_dir})", file=sys.stderr)
    sys.exit(2)


class SweepFolder(Callback):
    """``hydra.callbacks``: the last lines of a multirun say where it wrote and how to summarise it."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        folder = config.hydra.sweep.dir
        print(f"sweep folder: {folder}\nits summary: python -m distill.sweep_report {folder}")
