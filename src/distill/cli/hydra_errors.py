"""Hydra entry points' side of ``distill.console``: a user error ends the command in two lines."""

from __future__ import annotations

import sys

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode

from distill.console import show_tracebacks
from distill.errors import UserError


def report_user_error(error: Exception, output_dir: str) -> None:
    """Print a UserError as its message and exit 2; anything else (or a multirun job, whose
    failure Hydra records so the sweep goes on) is left to raise."""
    if not isinstance(error, UserError) and isinstance(error.__cause__, UserError):
        error = error.__cause__  # raised inside hydra.utils.instantiate, which wraps it
    if not isinstance(error, UserError) or show_tracebacks():
        return
    if HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
        return
    print(f"error: {error}\n(the failed run's folder: {output_dir})", file=sys.stderr)
    sys.exit(2)
