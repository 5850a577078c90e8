"""What a person sees in the terminal: user errors as two lines, no traceback, and no known noise.

Every entry point runs its work inside ``user_errors``. A ``UserError`` (bad input or
settings, see ``distill.errors``) prints as ``error: <problem and fix>``, with the usage line
of an argparse command, and exits with status 2. ``--debug`` or ``HYDRA_FULL_ERROR=1`` lets
the traceback through. Any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
import warnings
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


# Third-party lines that say nothing a user of distill can act on, printed once per stage.
KNOWN_NOISE = re.compile(
    r"^(💡 Tip:|GPU available: False|TPU available:|HPU available:|Seed set to|"
    r"Loading `train_dataloader` to estimate number of stepping batches|"
    r"Restoring states from the checkpoint path|Loaded model weights from the checkpoint|`Trainer.fit` stopped:)"
)
NOISY_WARNINGS = (r".*LeafSpec.*", r".*smaller than the logging interval.*", r".*does not have many workers.*", r".*Checkpoint directory .* exists and is not empty.*",
                  # The BiLSTM needs the TorchScript exporter (torch.export unrolls an LSTM over the traced length).
                  r".*legacy TorchScript-based ONNX export.*",
                  # Said of every exported LSTM; distill.export.verify checks each graph on another batch size
                  # and length.
                  r".*with a variable length with LSTM can cause an error.*",
                  r".*The axis name: .* will not be used, since it shares the same shape constraints.*")
# Loggers whose warnings are exporter chatter: torchvision ops it skips, attribute types it guesses.
NOISY_LOGGERS = ("torch.onnx", "torch.onnx._internal.exporter._registration", "onnx_ir", "onnxscript")


class DropKnownNoise(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not KNOWN_NOISE.match(record.getMessage())


def quiet_third_party() -> None:
    """The one place known-noisy third-party output is filtered (Lightning's tips and hardware
    lines, deprecation warnings of its dependencies, ONNX exporter chatter)."""
    for pattern in NOISY_WARNINGS:
        warnings.filterwarnings("ignore", message=pattern)
    for name in ("lightning.pytorch", "lightning.fabric", "lightning", ""):
        for handler in logging.getLogger(name).handlers:
            if not any(isinstance(existing, DropKnownNoise) for existing in handler.filters):
                handler.addFilter(DropKnownNoise())
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)


def without_progress_bar_off_a_terminal(callbacks: list) -> tuple[list, bool]:
    """A progress bar redraws in a terminal but writes a line per refresh into a log file:
    off a terminal, drop it. Returns the callbacks and ``enable_progress_bar``."""
    from lightning.pytorch.callbacks import ProgressBar

    if sys.stdout.isatty():
        return callbacks, True
    return [callback for callback in callbacks if not isinstance(callback, ProgressBar)], False
