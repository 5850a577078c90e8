"""An ensemble teacher: several cached logit sources distilled as one (Hinton et al., 2015).

Members are logit files (the fine-tuned transformer's cache, a classic model's run folder
``logits.npz``). The ensemble's log-probabilities are ``sum_m w_m * log_softmax(l_m / T_m)``
with a weight and a temperature per member fitted on the validation split (negative
log-likelihood, L-BFGS): tuned on val only, so test stays clean. Classic members must give
out-of-fold train logits (``distill.classic``), or the ensemble copies their memorised
answers. The result is a cache like the transformer's, with the transformer's identity
(``teacher.pretrained``, ``max_length``): students cannot tell where their logits came from.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig

from distill.cache import TeacherLogits, load_verified
from distill.data.corpus import Corpus
from distill.evaluation import split_scores


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


def load_member(name: str, path: str, splits: dict[str, Corpus]) -> TeacherLogits:
    """A member's logits, checked against every split the ensemble must label."""
    path = os.path.normpath(path)  # `<run>/teacher_ensemble/../sk_logreg` before that folder exists
    if not Path(path).is_file():
        raise FileNotFoundError(f"ensemble member {name}: no logits at {path}; run it first "
                                f"(python train.py model={name} ...) or set model.members.{name}")
    member = TeacherLogits.load(path)
    member.verify_splits(splits, f"Re-run {name} on this data or fix model.members.{name}.")
    return member


def fit_ensemble(cfg: DictConfig) -> tuple[dict[str, Any], TeacherLogits]:
    """Fit weights on val, score on val and test, write the ensemble's cache to ``model.output``."""
    spec = instantiate(cfg.teacher)
    splits = instantiate(cfg.data, features=None).load_splits()
    transformer = load_verified(spec, splits, required=True)
    members = {name: load_member(name, path, splits) for name, path in cfg.model.members.items()}
    logits_of = {split: [m.lookup(corpus.ids) for m in members.values()] for split, corpus in splits.items()}
    weights, temperatures = fit_weights(logits_of["val"], splits["val"].labels)
    logits = {split: combine(logits_of[split], weights, temperatures) for split in splits}

    metrics: dict[str, Any] = {}
    for stage in ("val", "test"):
        metrics |= split_scores(stage, logits[stage], splits[stage].labels, transformer.lookup(splits[stage].ids))
    metrics["val/acc_best"] = metrics["val/acc"]
    source = {
        **{key: transformer.manifest["teacher"][key] for key in
           ("pretrained", "checkpoint", "checkpoint_sha256", "tokenizer_sha256", "max_length")},
        "members": {
            name: {"weight": float(w), "temperature": float(t), "logits_sha256": m.manifest["logits_sha256"]}
            for (name, m), w, t in zip(members.items(), weights, temperatures)
        },
        "metrics": metrics,
    }
    ensemble = TeacherLogits.from_predictions(splits, logits, source)
    output = Path(cfg.model.output)
    if not (output.is_file() and reproduces(TeacherLogits.load(output), ensemble)):
        ensemble.save(output)
    return metrics, ensemble


def reproduces(existing: TeacherLogits, new: TeacherLogits, atol: float = 1e-4) -> bool:
    """The same ids and predictions, logits equal to float noise (multi-threaded BLAS in the
    classic members): a re-run then leaves a committed cache untouched."""
    return existing.ids.keys() == new.ids.keys() and all(
        np.array_equal(existing.ids[split], new.ids[split])
        and np.array_equal(existing.logits[split].argmax(-1), new.logits[split].argmax(-1))
        and np.allclose(existing.logits[split], new.logits[split], rtol=0.0, atol=atol)
        for split in new.ids
    )
