"""``python train.py`` / ``distill-train``: train one model, write its metrics and logits.

    python train.py model=teacher_minilm          # fine-tune the teacher, write teacher.logits
    python train.py model=bilstm                  # distil it into the BiLSTM student
    python train.py model=logistic distill=none   # hard-label baseline, same network
    python train.py model=sk_complementnb         # a classic scikit-learn baseline

Every run leaves ``metrics.json`` (metrics, settings signature, checkpoint path and hash)
and ``logits.npz`` (its logit store) in its output folder: reports, ensembles, export and
sweeps read those.
"""

from __future__ import annotations

import math

import hydra
from omegaconf import DictConfig

from distill.cli.config import CONF_DIR
from distill.cli.hydra_errors import quiet_unless_verbose, report_user_error
from distill.cli.runners import record_failure, run


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="train")
def main(cfg: DictConfig) -> float | None:
    """Returns ``optimized_metric`` (default: the best validation accuracy), which sweepers optimise;
    None for a run with no such score (``model=transfer_labels`` labels, it is not scored).

    A failed run leaves ``metrics.json`` with its error, so a sweep summary can list it. A multirun
    job that fails on a user error returns NaN (a failed trial to Optuna) instead of raising.
    """
    quiet_unless_verbose()
    try:
        metrics = run(cfg)
    except Exception as error:
        record_failure(cfg, error)
        if report_user_error(error, cfg.paths.output_dir):
            return math.nan  # a multirun job: the sweep goes on, and its end reports the failure
        raise
    return metrics.get(cfg.get("optimized_metric", "val/acc_best"))
