"""A net's start from Complement Naive Bayes, before fitting (``model.module.init=naive_bayes``).

A callback, so that ``ClassifierModule`` stays one module for any net: the start is the net's
business (a net offers it by having ``init_complement_naive_bayes``, ``linear_logits`` and
``rescale``, as ``BagLinearNet`` and ``BiLSTMBagNet`` do), and choosing its scale is the loss's.
"""

from __future__ import annotations

import math
from typing import Any

import lightning as L
import torch

from distill.errors import UserError

INITS = ("default", "naive_bayes")


def start_of(init: str, smoothing: float) -> NaiveBayesStart | None:
    """The callback for ``model.module.init`` (None for ``default``, which keeps the net's own start)."""
    if init not in INITS:
        raise UserError(f"model.module.init must be one of {list(INITS)}, got {init!r}")
    if not (math.isfinite(smoothing) and smoothing > 0):
        raise UserError(f"model.module.init_smoothing (Naive Bayes' alpha) must be finite and positive, "
                        f"got {smoothing}")
    return NaiveBayesStart(smoothing) if init == "naive_bayes" else None


class NaiveBayesStart(L.Callback):
    """Starts a net's linear bag path from Complement Naive Bayes fitted on the labelled training
    rows (``smoothing``), at the scale that minimises the module's own loss of those logits on the
    training split: a start with calibrated confidence, from which training moves it.

    It runs at ``setup("fit")``, before a resumed fit loads its checkpoint over it.
    """

    def __init__(self, smoothing: float = 1.0) -> None:
        self.smoothing = smoothing

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if stage != "fit":
            return
        if not hasattr(pl_module.net, "init_complement_naive_bayes"):
            raise UserError(f"model.module.init=naive_bayes needs a net with a linear bag path (model=logistic or "
                            f"bilstm_bag), not {type(pl_module.net).__name__}: drop the model.module.init override")
        if trainer.datamodule is None:
            raise UserError("model.module.init=naive_bayes fits on the training split: fit with a datamodule")
        self.start(pl_module, list(trainer.datamodule.train_dataloader()))

    @torch.no_grad()
    def start(self, pl_module: L.LightningModule, batches: list[dict[str, Any]]) -> float:
        """Complement Naive Bayes' weights, rescaled by the factor that minimises the loss of the linear
        path's logits on ``batches`` (a bag BiLSTM's recurrent path starts near zero and is left out)."""
        net = pl_module.net
        net.init_complement_naive_bayes(((batch["inputs"], batch["labels"]) for batch in batches), self.smoothing)
        logits = torch.cat([net.linear_logits(**batch["inputs"]) for batch in batches])
        labels = torch.cat([batch["labels"] for batch in batches])
        teacher = [batch.get("teacher_logits") for batch in batches]
        teacher_logits = None if teacher[0] is None else torch.cat(teacher)
        log_factor = torch.zeros((), requires_grad=True)
        optimizer = torch.optim.LBFGS([log_factor], max_iter=50, line_search_fn="strong_wolfe")

        def closure() -> torch.Tensor:
            optimizer.zero_grad()
            with torch.enable_grad():
                loss = pl_module.loss_fn(logits * log_factor.exp(), labels, teacher_logits)
                loss.backward()
            return loss

        optimizer.step(closure)
        factor = float(log_factor.exp())
        net.rescale(factor)
        return factor
