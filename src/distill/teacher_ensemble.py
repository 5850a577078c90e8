"""An ensemble teacher: several logit stores distilled as one (Hinton et al., 2015).

Members are logit stores (the fine-tuned transformer's, a classic model's run folder
``logits.npz``). The ensemble's log-probabilities are ``sum_m w_m * log_softmax(l_m / T_m)``
with a weight and a temperature per member fitted on the validation split (negative
log-likelihood, L-BFGS): tuned on val only, so test stays clean. Classic members must give
out-of-fold train logits (``distill.classic``), or the ensemble copies their memorised
answers. The result is a store with the transformer's identity (``pretrained``,
``max_length``), so students verify it as they would the transformer's own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from distill.data.corpus import Corpus
from distill.evaluation import split_scores
from distill.logit_store import LogitStore

TRANSFORMER_IDENTITY = ("pretrained", "max_length", "tokenizer_sha256", "checkpoint_sha256", "precision")


def combine(members: list[np.ndarray], weights: np.ndarray, temperatures: np.ndarray) -> np.ndarray:
    """Weighted sum of each member's log-softmax at its own temperature."""
    stacked = torch.from_numpy(np.stack(members)).double()
    scaled = torch.log_softmax(stacked / torch.from_numpy(temperatures)[:, None, None], dim=-1)
    return (torch.from_numpy(weights)[:, None, None] * scaled).sum(0).float().numpy()


def fit_weights(members: list[np.ndarray], labels: np.ndarray, steps: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Per-member weights and temperatures that minimise the ensemble's NLL on ``labels``."""
    stacked = torch.from_numpy(np.stack(members)).double()
    target = torch.from_numpy(labels).long()
    log_weight = torch.zeros(len(members), dtype=torch.float64, requires_grad=True)
    log_temperature = torch.zeros(len(members), dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([log_weight, log_temperature], max_iter=steps, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        scaled = torch.log_softmax(stacked / log_temperature.exp()[:, None, None], dim=-1)
        logits = (log_weight.exp()[:, None, None] * scaled).sum(0)
        loss = torch.nn.functional.cross_entropy(logits, target)
        loss.backward()
        return loss

    optimizer.step(closure)
    return log_weight.exp().detach().numpy(), log_temperature.exp().detach().numpy()


def fit_ensemble(
    name: str, splits: dict[str, Corpus], transformer: LogitStore, members: dict[str, LogitStore]
) -> tuple[dict[str, Any], LogitStore]:
    """Fit weights on val, score on val and test (agreement: with ``transformer``)."""
    logits_of = {split: [m.aligned(split, corpus.ids) for m in members.values()] for split, corpus in splits.items()}
    weights, temperatures = fit_weights(logits_of["val"], splits["val"].labels)
    logits = {split: combine(logits_of[split], weights, temperatures) for split in splits}
    metrics: dict[str, Any] = {}
    for stage in ("val", "test"):
        metrics |= split_scores(stage, logits[stage], splits[stage].labels,
                                transformer.aligned(stage, splits[stage].ids))
    metrics["val/acc_best"] = metrics["val/acc"]
    source = {
        "kind": "ensemble",
        "model": name,
        **{key: transformer.source[key] for key in TRANSFORMER_IDENTITY if key in transformer.source},
        "members": {
            member: {"weight": float(w), "temperature": float(t), "sha256": store.manifest["sha256"]}
            for (member, store), w, t in zip(members.items(), weights, temperatures)
        },
    }
    return metrics, LogitStore.from_predictions(splits, logits, source)


def save_unless_reproduced(store: LogitStore, path: Path) -> None:
    """Write ``store`` unless ``path`` already holds the same logits to float noise (multi-threaded
    BLAS in the classic members), made with the same signature: a re-run then leaves a committed
    store untouched."""
    existing = LogitStore.load(path) if path.is_file() else None
    if not (existing is not None and existing.source.get("signature") == store.source.get("signature")
            and reproduces(existing, store)):
        store.save(path)


def reproduces(existing: LogitStore, new: LogitStore, atol: float = 1e-4) -> bool:
    """The same ids and predictions, logits equal to float noise."""
    return existing.ids.keys() == new.ids.keys() and all(
        np.array_equal(existing.ids[split], new.ids[split])
        and np.array_equal(existing.logits[split].argmax(-1), new.logits[split].argmax(-1))
        and np.allclose(existing.logits[split], new.logits[split], rtol=0.0, atol=atol)
        for split in new.ids
    )
