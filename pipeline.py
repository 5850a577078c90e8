"""Run every stage of an experiment and print one comparison.

    python pipeline.py experiment=quickstart data.archive=../shared/data/20news-bydate.tar.gz

Stages come from `pipeline.stages` (conf/pipeline.yaml; an experiment replaces the list): each
is a train.py run with this command's overrides, then the stage's own, writing to
`<run>/<stage>/`. A stage is skipped when its folder already holds a completed run with the
same settings and input caches (`distill.signature`) whose logits match the data (re-run a
crashed pipeline with `hydra.run.dir=<its folder>`), and the teacher stage also when
`teacher.logits` holds a cache that matches the data.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import hydra
from hydra import compose
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig

from distill import atomic
from distill.cache import CacheMismatchError, TeacherLogits
from distill.report import comparison_table, stage_overrides
from distill.signature import run_signature
from train import run


def completed_metrics(cfg: DictConfig) -> dict[str, float] | None:
    """Metrics of the stage's earlier run when it completed with these settings on this data, else None.

    A teacher whose cache at ``teacher.logits`` matches the data is reused as this stage's
    run: its cache is copied into the stage folder, so every stage folder looks the same.
    """
    output_dir = Path(cfg.paths.output_dir)
    summary_path, logits_path = output_dir / "metrics.json", output_dir / "logits.npz"
    reusable_teacher = cfg.model.role == "teacher" and Path(cfg.teacher.logits).is_file()
    if not reusable_teacher:
        if not (summary_path.is_file() and logits_path.is_file()):
            return None  # nothing to reuse: do not read the corpus just to say so
        summary = json.loads(summary_path.read_text())
        if summary.get("status") != "completed":
            return None
        if summary.get("signature") != run_signature(cfg):
            print(f"[pipeline] {output_dir.name}: earlier run had other settings or input caches, re-running")
            return None
    splits = instantiate(cfg.data, features=None).load_splits()
    try:
        if reusable_teacher:
            cache = TeacherLogits.load(cfg.teacher.logits)
            cache.verify(splits, instantiate(cfg.teacher))
            output_dir.mkdir(parents=True, exist_ok=True)
            atomic.write_bytes(logits_path, Path(cfg.teacher.logits).read_bytes())
            summary = {"model": cfg.model.name, "role": "teacher", "status": "completed", "distill": None,
                       "metrics": cache.manifest["teacher"]["metrics"], "reused": str(cfg.teacher.logits)}
            atomic.write_text(summary_path, json.dumps(summary, indent=2))
            return summary["metrics"]
        cache = TeacherLogits.load(logits_path)
        cache.verify_splits({name: splits[name] for name in cache.ids})
    except CacheMismatchError as mismatch:
        print(f"[pipeline] {output_dir.name}: earlier output does not match the data, re-running: {mismatch}")
        return None
    return summary["metrics"]


def run_pipeline(stages: dict[str, list[str]], overrides: list[str], output_dir: Path) -> dict[str, dict]:
    """Run the stages in order; each writes under ``output_dir/<stage>``. Returns their metrics."""
    output_dir.mkdir(parents=True, exist_ok=True)
    results = {}
    for name, stage_overrides in stages.items():
        stage_cfg = compose(
            config_name="train",
            overrides=[*overrides, *stage_overrides, f"paths.output_dir={output_dir / name}"],
        )
        started = time.time()
        metrics = completed_metrics(stage_cfg)
        if metrics is not None:
            print(f"[pipeline] {name}: a completed run matching the data exists, stage skipped")
            # what the stage cost when it ran (unknown for a teacher cache made elsewhere)
            metrics = {**metrics, "skipped": True, "seconds": metrics.get("train_seconds")}
        else:
            metrics = {**run(stage_cfg), "seconds": time.time() - started}
        results[name] = {"overrides": list(stage_overrides), **metrics}
    table = comparison_table(results)
    (output_dir / "comparison.json").write_text(json.dumps(results, indent=2))
    (output_dir / "comparison.md").write_text(table + "\n")
    print("\n" + table)
    return results


@hydra.main(version_base="1.3", config_path="conf", config_name="pipeline")
def main(cfg: DictConfig) -> None:
    # unresolved: an override such as teacher.logits='${ensemble_logits}' resolves in its stage's config
    run_pipeline(stage_overrides(cfg), list(HydraConfig.get().overrides.task), Path(cfg.paths.output_dir))


if __name__ == "__main__":
    main()
