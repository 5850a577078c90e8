"""A val-chosen model's final form: its refit on train and val, where the plan has one.

Val chooses a student's settings, epoch count and ensemble weight on its twin, the stage
trained on train alone. ``refit=train_val`` then trains that student again on train and val
as stage ``<twin>_refit``. Val cannot judge the refit (it learnt val), so every choice is made
on the twin first, and the refit replaces the twin only afterwards: in what is scored and served.
"""

from __future__ import annotations

from collections.abc import Collection

REFIT_SUFFIX = "_refit"


def final_fit(name: str, available: Collection[str]) -> str:
    """``<name>_refit`` when ``available`` holds it, else ``name``."""
    refit = f"{name}{REFIT_SUFFIX}"
    return refit if refit in available else name


def twin(name: str) -> str | None:
    """The stage a refit stage replaces; None for a stage that is not a refit."""
    return name.removesuffix(REFIT_SUFFIX) if name.endswith(REFIT_SUFFIX) else None
