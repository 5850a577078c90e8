"""Run every stage of an experiment (teacher -> cache -> students) and print one comparison.

    python pipeline.py experiment=quickstart data.archive=../shared/data/20news-bydate.tar.gz

Stages come from `pipeline.stages` (conf/pipeline.yaml; experiments may replace them): each
is a train.py run with this command's overrides, then the stage's own. The
teacher stage is skipped when `teacher.logits` already holds a cache that matches the data.
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

from distill.cache import CacheMismatchError, TeacherLogits
from distill.report import comparison_table
from train import run


def cached_teacher_metrics(cfg: DictConfig) -> dict[str, float] | None:
    """The cached teacher's metrics when its cache matches this data, else None (run it)."""
    teacher = instantiate(cfg.teacher)
    if not Path(teacher.logits).is_file():
        return None
    splits = instantiate(cfg.data, features=None).load_splits()
    cache = TeacherLogits.load(teacher.logits)
    try:
        cache.verify(splits, teacher)
    except CacheMismatchError as mismatch:
        print(f"[pipeline] teacher cache is stale, re-running the teacher: {mismatch}")
        return None
    return cache.manifest["teacher"]["metrics"]


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
        metrics = cached_teacher_metrics(stage_cfg) if stage_cfg.model.role == "teacher" else None
        if metrics is not None:
            print(f"[pipeline] {name}: {stage_cfg.teacher.logits} matches the data, stage skipped")
            metrics = {**metrics, "skipped": True}
        else:
            metrics = run(stage_cfg)
        results[name] = {"overrides": list(stage_overrides), "seconds": time.time() - started, **metrics}
    table = comparison_table(results)
    (output_dir / "comparison.json").write_text(json.dumps(results, indent=2))
    (output_dir / "comparison.md").write_text(table + "\n")
    print("\n" + table)
    return results


@hydra.main(version_base="1.3", config_path="conf", config_name="pipeline")
def main(cfg: DictConfig) -> None:
    stages = {name: list(overrides) for name, overrides in cfg.pipeline.stages.items()}
    run_pipeline(stages, list(HydraConfig.get().overrides.task), Path(cfg.paths.output_dir))


if __name__ == "__main__":
    main()
