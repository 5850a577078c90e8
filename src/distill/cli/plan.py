"""The stage plan of a pipeline config: which stages, in which order, with which overrides of their own.

Config only, no training imports: ``distill.report`` reads a run's plan without loading Lightning.
"""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

from distill.errors import UserError


def plan_stages(cfg: DictConfig) -> dict[str, list[str]]:
    """Each stage's own overrides in the pipeline's plan, as written (interpolations unresolved,
    so an override such as teacher.logits='${ensemble_logits}' resolves in its stage's config)."""
    plan = OmegaConf.select(cfg, "pipeline.stages", default=None)
    plan = OmegaConf.to_container(plan, resolve=False) if plan is not None else []
    return {name: list(overrides) for stage in plan for name, overrides in stage.items()}


def stage_overrides(cfg: DictConfig) -> dict[str, list[str]]:
    """``plan_stages``, only those ``pipeline.only`` names when it names some."""
    stages = plan_stages(cfg)
    only = OmegaConf.select(cfg, "pipeline.only", default=None)
    if only is None:
        return stages
    unknown = sorted(set(only) - set(stages))
    if unknown:
        raise UserError(f"pipeline.only names stages {unknown} that the plan does not have: choose from {list(stages)}")
    return {name: overrides for name, overrides in stages.items() if name in only}
