"""``python pipeline.py`` / ``distill-pipeline``: run every stage of an experiment, print one comparison.

    python pipeline.py experiment=quickstart data.archive=../shared/data/20news-bydate.tar.gz

Stages come from ``pipeline.stages`` (conf/pipeline.yaml; an experiment replaces the list):
each is a train.py run with this command's overrides, then the stage's own, writing to
``<run>/<stage>/``. A stage is skipped when its folder already holds a completed run with the
same signature (settings and input logit stores, ``distill.cli.signature``) whose logits
match the data: re-run a crashed pipeline with ``hydra.run.dir=<its folder>``. The teacher
stage is also skipped when ``teacher.logits`` holds a store made with the same signature on
the same data (its manifest records both), checkpoint or not; so are the teacher_ensemble
stage for ``ensemble_logits`` and the transfer_labels stage for ``transfer.logits``. Then the
steps of ``pipeline.finish`` (``distill.cli.finish``: report, exports) read the run folder.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import hydra
from hydra import compose
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from distill import atomic
from distill.cli.config import CONF_DIR
from distill.cli.finish import finish
from distill.cli.hydra_errors import quiet_unless_verbose, report_user_error
from distill.cli.plan import plan_stages, stage_overrides
from distill.cli.roles import role_of
from distill.cli.runners import record_failure, run, signature_of
from distill.logit_store import LogitStore, LogitStoreError

log = logging.getLogger("distill")

COLUMNS = (
    ("val acc", "val/acc_best"),
    ("test acc", "test/acc"),
    ("test macro-F1", "test/f1_macro"),
    ("agreement w/ teacher", "test/agreement"),
    ("seconds", "seconds"),
)


def _cell(value: float | None, key: str) -> str:
    if value is None:
        return "-"
    return f"{value:.0f}" if key == "seconds" else f"{value:.4f}"


def comparison_table(results: dict[str, dict[str, Any]]) -> str:
    """A Markdown table, one row per model, in the order given."""
    header = "| model | " + " | ".join(title for title, _ in COLUMNS) + " |"
    rule = "|---|" + "---:|" * len(COLUMNS)
    rows = [
        f"| {name} | " + " | ".join(_cell(metrics.get(key), key) for _, key in COLUMNS) + " |"
        for name, metrics in results.items()
    ]
    return "\n".join([header, rule, *rows])


def reused_store(cfg: DictConfig, signature: str) -> dict[str, float] | None:
    """The stage's metrics when the store it publishes (the teacher's logits, the ensemble's, the
    transfer set's labels) was made with these settings on this data; the store is then copied
    into the stage folder, so every stage folder looks the same."""
    role = role_of(cfg)
    output_dir, path = Path(cfg.paths.output_dir), role.publishes(cfg)
    try:
        store = LogitStore.load(path)
        if store.source.get("signature") != signature:
            log.info(f"[pipeline] {output_dir.name}: the store at {path} was made with other settings, re-running")
            return None
        role.verify(cfg, store)
    except LogitStoreError as mismatch:
        log.info(f"[pipeline] {output_dir.name}: the store at {path} cannot be reused, re-running: {mismatch}")
        return None
    atomic.write_bytes(output_dir / "logits.npz", Path(path).read_bytes())
    record = {"model": cfg.model.name, "role": cfg.model.role, "status": "completed", "signature": signature,
              "distill": None, "checkpoint": None, "features": None, "labels": store.manifest["label_names"],
              "reused": os.path.relpath(path), "metrics": store.source["metrics"]}
    atomic.write_text(output_dir / "metrics.json", json.dumps(record, indent=2))
    return record["metrics"]


def completed_metrics(cfg: DictConfig) -> dict[str, float] | None:
    """Metrics of the stage's earlier run when it completed with this signature on this data, else None."""
    output_dir = Path(cfg.paths.output_dir)
    signature = signature_of(cfg)
    summary_path, logits_path = output_dir / "metrics.json", output_dir / "logits.npz"
    summary = json.loads(summary_path.read_text()) if summary_path.is_file() and logits_path.is_file() else {}
    if summary.get("status") != "completed" or summary.get("signature") != signature:
        published = role_of(cfg).publishes(cfg)
        if published and Path(published).is_file():
            return reused_store(cfg, signature)  # a store made elsewhere, with or without its checkpoint
        if summary.get("status") == "completed":
            log.info(f"[pipeline] {output_dir.name}: earlier run had other settings or input logits, re-running")
        return None  # nothing to reuse: do not read the corpus just to say so
    try:
        store = LogitStore.load(logits_path)
        if store.source.get("signature") != signature:  # every run's store records the signature it ran with
            log.info(f"[pipeline] {output_dir.name}: its logits were made by another run, re-running")
            return None
        role_of(cfg).verify(cfg, store)
    except LogitStoreError as mismatch:
        log.info(f"[pipeline] {output_dir.name}: earlier output does not match the data, re-running: {mismatch}")
        return None
    return summary["metrics"]


def banner(position: str, name: str, own: list[str], cfg: DictConfig) -> str:
    """``[3/5] logistic_kd: model=logistic distill=kl (T=2, alpha=0.5)``."""
    return f"[{position}] {name}: {' '.join(own)}" + role_of(cfg).banner(cfg)


def with_earlier_rows(results: dict[str, dict], output_dir: Path, plan: list[str]) -> dict[str, dict]:
    """The comparison of a run of some of the ``plan``'s stages (``pipeline.only``): the others keep
    their rows from the folder's last comparison, as they were then, in plan order."""
    path = output_dir / "comparison.json"
    earlier = json.loads(path.read_text()) if path.is_file() else {}
    return {name: results.get(name, earlier.get(name)) for name in plan if name in results or name in earlier}


def run_pipeline(
    stages: dict[str, list[str]], overrides: list[str], output_dir: Path, plan: list[str] | None = None
) -> dict[str, dict]:
    """Run the stages in order; each writes under ``output_dir/<stage>``. Returns their metrics.

    ``plan`` (every stage name of the plan; ``stages`` may be some of them) keeps the other
    stages' rows of the folder's comparison (``with_earlier_rows``)."""
    output_dir.mkdir(parents=True, exist_ok=True)
    results = {}
    for index, (name, own) in enumerate(stages.items(), 1):
        stage_cfg = compose(config_name="train", overrides=[*overrides, *own, f"paths.output_dir={output_dir / name}"])
        log.info(banner(f"{index}/{len(stages)}", name, own, stage_cfg))
        started = time.time()
        metrics = completed_metrics(stage_cfg)
        if metrics is not None:
            log.info(f"[pipeline] {name}: a completed run with the same settings on the same data exists, stage skipped")
            # what the stage cost when it ran (unknown for a store made elsewhere that does not record it)
            metrics = {**metrics, "skipped": True, "seconds": metrics.get("train_seconds")}
        else:
            try:
                metrics = {**run(stage_cfg), "seconds": time.time() - started}
            except Exception as error:
                record_failure(stage_cfg, error)
                raise
        results[name] = {"overrides": list(own), **metrics}
    rows = results if plan is None else with_earlier_rows(results, output_dir, plan)
    table = comparison_table(rows)
    atomic.write_text(output_dir / "comparison.json", json.dumps(rows, indent=2))
    atomic.write_text(output_dir / "comparison.md", table + "\n")
    log.info("\n" + table + f"\n\nrun folder: {output_dir}\nits report: python -m distill.report {output_dir}")
    return results


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="pipeline")
def main(cfg: DictConfig) -> None:
    quiet_unless_verbose()
    try:
        # pipeline.* chooses stages; every other override of this command goes to each stage
        overrides = [o for o in HydraConfig.get().overrides.task if not o.lstrip("+~").startswith("pipeline.")]
        run_pipeline(stage_overrides(cfg), overrides, Path(cfg.paths.output_dir), list(plan_stages(cfg)))
        finish(list(OmegaConf.select(cfg, "pipeline.finish", default=None) or []), Path(cfg.paths.output_dir))
    except Exception as error:
        if not report_user_error(error, cfg.paths.output_dir):
            raise
