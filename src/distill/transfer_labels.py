"""The teacher's soft labels on a transfer set: each ensemble member's logits, combined as fitted.

The ensemble chosen on val labels the set. Its members are re-run from their stage folders:
the fine-tuned transformer from its checkpoint (the expensive part: it needs the checkpoint,
so this runs where the teacher was trained), the classic models from their pickles, and
combined with the weights and temperatures the ensemble fitted on val. The stored rows are
shifted to a maximum of 0 and rounded to float16: both soft terms ignore a row's shift (KL
through the softmax, MSE by centring rows), and float16 halves the committed store; the
largest change of a class probability it causes is recorded (``float16_max_prob_error``).
"""

from __future__ import annotations

import logging
import pickle
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from distill.classic import classic_logits
from distill.data.corpus import Corpus
from distill.teacher_ensemble import combine
from distill.errors import UserError
from distill.logit_store import LogitStore, to_float16
from distill.probability import softmax
from distill.run_folder import artefact, read_record
from distill.preprocessing import Preprocessing

log = logging.getLogger("distill")


def transformer_logits(stage: Path, texts: list[str], batch_size: int = 64) -> np.ndarray:
    """The stage's checkpoint on ``texts`` (already cleaned), shortest first, with a progress bar."""
    from distill.nets.checkpoint import load_net

    record = read_record(stage)
    net = load_net(artefact(stage, record))
    transform = Preprocessing(stage / record["features"]).transform
    order = np.argsort([len(text) for text in texts], kind="stable")
    logits = np.zeros((len(texts), len(record["labels"])), np.float32)
    terminal = sys.stderr.isatty()
    with tqdm(total=len(texts), unit="doc", desc=f"labelling with {stage.name}", leave=terminal,
              mininterval=0.5 if terminal else 60) as bar, torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            rows = order[start : start + batch_size]
            inputs = {name: torch.from_numpy(array) for name, array in transform([texts[i] for i in rows]).items()}
            logits[rows] = net(**inputs).numpy()
            bar.update(len(rows))
    return logits


def sklearn_logits(stage: Path, texts: list[str]) -> np.ndarray:
    model = pickle.loads(artefact(stage, read_record(stage)).read_bytes())
    return classic_logits(model, texts)


def member_logits(stage: Path, texts: list[str]) -> np.ndarray:
    """Logits of the model a stage folder holds, as its logit store records them."""
    kind = (read_record(stage).get("checkpoint") or {}).get("format")
    if kind == "lightning":
        return transformer_logits(stage, texts)
    if kind == "sklearn":
        return sklearn_logits(stage, texts)
    raise UserError(f"{stage}: its run saved no model (only logits), so it cannot label a transfer set: "
                    "re-run that stage where its model is kept")


def label(transfer: Corpus, ensemble: LogitStore, stages: dict[str, Path], source: dict) -> LogitStore:
    """The ensemble's logits on ``transfer``; ``stages`` maps each member to its stage folder.

    A member whose stage now holds other logits than the ensemble was fitted on is refused:
    its weight and temperature belong to the model that made those.
    """
    members = ensemble.source["members"]
    missing = sorted(set(members) - set(stages))
    if missing:
        raise UserError(f"the ensemble's members {missing} have no stage folder: add them to model.members")
    outputs, seconds = [], {}
    for name in members:
        stage = Path(stages[name])
        made = LogitStore.load(stage / "logits.npz", f"re-run the {name} stage").manifest["sha256"]
        if made != members[name]["sha256"]:
            raise UserError(f"{stage} holds other logits than the ensemble was fitted on (re-fitted here, or with "
                            f"other settings): delete the ensemble's store (ensemble_logits) so that the "
                            f"teacher_ensemble stage re-fits it from this run's members, then label the transfer set")
        started = time.time()
        outputs.append(member_logits(stage, transfer.texts))
        seconds[name] = time.time() - started
        log.info(f"transfer labels: {name} took {seconds[name]:.0f} s for {len(transfer)} documents "
                 f"({seconds[name] / len(transfer) * 1e4:.0f} s per 10k)")
    weights = np.asarray([members[name]["weight"] for name in members])
    temperatures = np.asarray([members[name]["temperature"] for name in members])
    logits = combine(outputs, weights, temperatures)
    logits = logits - logits.max(axis=1, keepdims=True)
    rounded = to_float16(logits)
    error = float(np.abs(softmax(rounded) - softmax(logits)).max()) if len(logits) else 0.0
    source = {**source, "float16_max_prob_error": error, "labeller": {"sha256": ensemble.manifest["sha256"], "model": ensemble.source["model"]},
              "seconds_per_10k": {name: value / len(transfer) * 1e4 for name, value in seconds.items()}}
    return LogitStore.from_predictions({"transfer": transfer}, {"transfer": rounded}, source)
