"""Every config composes, and every `_target_` binds to the signature it names."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
from hydra.utils import get_object
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, ListConfig, OmegaConf

from conftest import CONFIG_DIR, make_cfg
from distill.cli.lightning_fit import START
from distill.errors import UserError

CONF = Path(CONFIG_DIR)
MODELS = sorted(path.stem for path in (CONF / "model").glob("*.yaml"))
GROUPS = ("data", "distill", "trainer", "logger", "callbacks", "teacher", "experiment", "refit")
# Arguments that train.py passes itself, next to the config.
PASSED_BY_TRAIN = {"features", "num_classes", "vocab_size", "loss", "callbacks", "logger"}


def targets(node: object):
    """Every config node that has a `_target_`, depth first."""
    if isinstance(node, DictConfig):
        if "_target_" in node:
            yield node
        for value in node.values():
            yield from targets(value)
    elif isinstance(node, ListConfig):
        for value in node:
            yield from targets(value)


def assert_binds(node: DictConfig) -> None:
    target = get_object(node._target_)
    kwargs = {k: v for k, v in node.items() if not k.startswith("_")}
    if node._target_ == "distill.module.ClassifierModule":  # the runner takes these out: they choose a start
        kwargs = {k: v for k, v in kwargs.items() if k not in START}
    signature = inspect.signature(target)
    try:
        signature.bind_partial(**kwargs)
    except TypeError as error:
        raise AssertionError(f"{node._target_} does not accept {sorted(kwargs)}: {error}") from None
    missing = [
        name for name, parameter in signature.parameters.items()
        if parameter.default is inspect.Parameter.empty
        and parameter.kind not in (parameter.VAR_KEYWORD, parameter.VAR_POSITIONAL)
        and name not in kwargs and name not in PASSED_BY_TRAIN and name != "self"
    ]
    assert not missing, f"{node._target_} needs {missing}, which neither the config nor train.py gives"


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("distill", ["kl", "mse", "none"])
def test_model_configs_bind(model: str, distill: str, tmp_path: Path, corpus_archive: Path) -> None:
    cfg = make_cfg(tmp_path, corpus_archive, [f"model={model}", f"distill={distill}"])
    OmegaConf.resolve(cfg)
    for node in targets(cfg):
        assert_binds(node)


@pytest.mark.parametrize(
    "group, option",
    [(group, path.stem) for group in GROUPS for path in sorted((CONF / group).glob("*.yaml"))],
)
def test_every_option_composes_and_binds(group: str, option: str, tmp_path: Path, corpus_archive: Path) -> None:
    overrides = [f"{group}={option}"]
    if option == "csv" and group == "data":
        overrides += ["data.train_file=a.csv", "data.test_file=b.csv"]
    cfg = make_cfg(tmp_path, corpus_archive, overrides)
    OmegaConf.resolve(cfg)
    for node in targets(cfg):
        assert_binds(node)


def test_every_yaml_starts_with_the_command_that_uses_it() -> None:
    for path in CONF.rglob("*.yaml"):
        lines = [line for line in path.read_text().splitlines() if line.strip()]
        comments = [line for line in lines[:2] if line.startswith("#")]
        assert any("python " in line for line in comments), f"{path} does not open with its command"


def test_an_experiment_replaces_the_pipeline_stages_in_its_own_order() -> None:
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        default = compose(config_name="pipeline")
        full = compose(config_name="pipeline", overrides=["experiment=newsgroups20"])
    order = [name for stage in full.pipeline.stages for name in stage]
    assert order.index("sk_complementnb") < order.index("teacher_ensemble") < order.index("logistic_kd")
    assert order.index("sk_logreg") < order.index("teacher_ensemble") < order.index("bilstm_kd")
    # the transfer set is labelled by the ensemble before the students that learn it
    assert order.index("teacher_ensemble") < order.index("transfer_labels") < order.index("logistic_kd_transfer")
    assert order.index("transfer_labels") < order.index("bilstm_kd_transfer") < order.index("bilstm_bag_kd_transfer")
    assert order.index("transfer_labels") < order.index("logistic_nb_kd_transfer")
    # a refit follows the twin whose val run chose its settings and epochs
    assert order.index("logistic_nb_kd_transfer") < order.index("logistic_nb_kd_transfer_refit")
    assert order.index("bilstm_bag_kd_transfer") < order.index("bilstm_bag_kd_transfer_refit")
    assert len(order) == len(set(order)) == 19
    assert [name for stage in default.pipeline.stages for name in stage][0] == "teacher"


def test_pipeline_only_keeps_the_named_stages_in_plan_order() -> None:
    from distill.cli.plan import plan_stages, stage_overrides

    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        chosen = compose("pipeline", overrides=["experiment=newsgroups20", "pipeline.only=[bilstm_kd,teacher]"])
        full = compose("pipeline", overrides=["experiment=newsgroups20"])
        wrong = compose("pipeline", overrides=["experiment=newsgroups20", "pipeline.only=[bilstm]"])
    assert list(stage_overrides(chosen)) == ["teacher", "bilstm_kd"]
    assert list(plan_stages(chosen)) == list(stage_overrides(full))  # what a report of the run folder lists
    assert stage_overrides(chosen)["bilstm_kd"][0] == "model=bilstm"
    with pytest.raises(UserError, match=r"pipeline.only names stages \['bilstm'\] that the plan does not have"):
        stage_overrides(wrong)
