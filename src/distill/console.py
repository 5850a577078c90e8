"""What a person sees in the terminal: user errors as two lines, no traceback.

Every entry point runs its work inside ``user_errors``. A ``UserError`` (bad input or
settings, see ``distill.errors``) prints as ``error: <problem and fix>``, with the usage line
of an argparse command, and exits with status 2. ``--debug`` or ``HYDRA_FULL_ERROR=1`` lets
the traceback through. Any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from distill.errors import UserError


def show_tracebacks(debug: bool = False) -> bool:
    return debug or os.environ.get("HYDRA_FULL_ERROR") == "1"


@contextmanager
def user_errors(parser: argparse.ArgumentParser | None = None, debug: bool = False) -> Iterator[None]:
    """Turn a UserError raised inside into a short message and exit status 2."""
    try:
        yield
    except UserError as error:
        if show_tracebacks(debug):
            raise
        if parser is not None:
            parser.print_usage(sys.stderr)
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
