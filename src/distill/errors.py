"""Errors a user can fix by changing a setting or an input file.

The command-line entry points print a ``UserError`` as its message alone (the problem and
the fix), with no traceback; ``HYDRA_FULL_ERROR=1`` or ``--debug`` shows the traceback too.
Anything else is a bug and keeps its traceback.
"""


class UserError(ValueError):
    """Bad input or settings: the message names the file or key and the fix."""
