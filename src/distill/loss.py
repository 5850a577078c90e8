"""Knowledge-distillation loss (Hinton et al. 2015) with temperature annealing."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from distill.errors import UserError

SCHEDULES = ("constant", "linear", "cosine", "exponential")
KINDS = ("kl", "mse")


def scheduled_temperature(schedule: str, start: float, end: float, progress: float) -> float:
    """T at ``progress`` in [0, 1] of training, moving from ``start`` to ``end``.

    linear: straight line; cosine: half a cosine wave (slow, fast, slow);
    exponential: geometric interpolation start * (end / start) ** progress.
    """
    progress = min(max(progress, 0.0), 1.0)
    if schedule == "constant":
        return start
    if schedule == "linear":
        return start + (end - start) * progress
    if schedule == "cosine":
        return end + (start - end) * 0.5 * (1.0 + math.cos(math.pi * progress))
    if schedule == "exponential":
        return start * (end / start) ** progress
    raise ValueError(f"distill.schedule={schedule!r} is not one of {SCHEDULES}")


class DistillationLoss(nn.Module):
    r"""Soft teacher targets mixed with hard labels.

    ``kind="kl"``::

        loss = alpha * T^2 * KL(softmax(z_t / T) || softmax(z_s / T)) + (1 - alpha) * CE(z_s, y)

    KL is summed over classes and averaged over the batch (``batchmean``). The T^2 factor
    keeps the soft term's gradients the same order of magnitude as T changes, since the
    gradient of the softened KL scales as 1/T^2.

    ``kind="mse"`` (Tang et al. 2019) replaces the soft term by the squared distance between
    logits, each row centred first, ``||(z_s - mean z_s) - (z_t - mean z_t)||^2`` summed over
    classes and averaged over the batch; the temperature is not used there. Centring makes it
    blind to the per-row shift softmax ignores: a cache of log-probabilities (the ensemble's,
    down to -35) then teaches what the same teacher's raw logits would.

    Shapes: ``student_logits`` and ``teacher_logits`` are (B, C) floats, ``labels`` is (B,)
    long with -1 for examples that have no hard label: those contribute only the soft term.
    With ``teacher_logits=None`` (the teacher itself) or ``alpha=0`` (hard-label baselines)
    the loss is the plain cross-entropy.

    The temperature follows ``schedule`` from ``temperature`` to ``temperature_end`` over
    training; the owner calls ``set_progress(fraction of training done)``.
    """

    def __init__(
        self,
        alpha: float = 0.5,
        temperature: float = 2.0,
        kind: str = "kl",
        schedule: str = "constant",
        temperature_end: float | None = None,
    ) -> None:
        super().__init__()
        if not 0.0 <= alpha <= 1.0:
            raise UserError(f"distill.alpha must be in [0, 1], got {alpha}")
        if kind not in KINDS:
            raise UserError(f"distill.kind={kind!r} is not one of {KINDS}")
        if schedule not in SCHEDULES:
            raise UserError(f"distill.schedule={schedule!r} is not one of {SCHEDULES}")
        end = temperature if temperature_end is None else temperature_end
        if not all(math.isfinite(t) and t > 0 for t in (temperature, end)):  # NaN or inf: a NaN loss at step 1
            raise UserError(
                "distill.temperature (start) and distill.temperature_end (end) must be finite and positive, "
                f"got start={temperature}, end={end}"
            )
        self.alpha, self.kind, self.schedule = alpha, kind, schedule
        self.temperature_start, self.temperature_end = float(temperature), float(end)
        self.temperature = self.temperature_start

    def set_progress(self, progress: float) -> float:
        """Move the temperature to its scheduled value at ``progress`` in [0, 1]; return it."""
        self.temperature = scheduled_temperature(
            self.schedule, self.temperature_start, self.temperature_end, progress
        )
        return self.temperature

    @property
    def uses_teacher(self) -> bool:
        return self.alpha > 0.0

    def soft_term(self, student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
        """In float32 whatever the student's dtype: bf16 would round the teacher's logits (8 bits
        of mantissa) and the log-softmax of both before they are compared."""
        student_logits, teacher_logits = student_logits.float(), teacher_logits.float()
        if self.kind == "mse":
            difference = student_logits - teacher_logits
            return (difference - difference.mean(dim=-1, keepdim=True)).pow(2).sum(dim=-1).mean()
        t = self.temperature
        return t * t * F.kl_div(
            F.log_softmax(student_logits / t, dim=-1),
            F.log_softmax(teacher_logits / t, dim=-1),
            reduction="batchmean",
            log_target=True,
        )

    @staticmethod
    def hard_term(student_logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        labelled = labels >= 0
        if not labelled.any():
            return student_logits.sum() * 0.0
        return F.cross_entropy(student_logits[labelled], labels[labelled])

    def forward(
        self,
        student_logits: torch.Tensor,
        labels: torch.Tensor,
        teacher_logits: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if teacher_logits is None or self.alpha == 0.0:
            return self.hard_term(student_logits, labels)
        soft = self.soft_term(student_logits, teacher_logits)
        if self.alpha == 1.0:
            return soft
        return self.alpha * soft + (1.0 - self.alpha) * self.hard_term(student_logits, labels)
