"""``--help`` is generated from the configs: every option of every group is listed, and a
user's own configs (``--config-dir``) are listed beside the shipped ones."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

import distill.cli.pipeline
import distill.cli.train
from conftest import CONFIG_DIR, ROOT, in_process


def listed_groups(output: str) -> dict[str, set[str]]:
    """``group: a, b, c`` lines of the help text."""
    return {group: {option.strip() for option in options.split(",")}
            for group, options in re.findall(r"^\s*([\w/]+): ([\w, ]+)$", output, re.M)}


def shipped_options() -> dict[str, set[str]]:
    """Every yaml of every group folder of conf/ (hydra's own settings aside)."""
    options: dict[str, set[str]] = {}
    for path in Path(CONFIG_DIR).rglob("*.yaml"):
        group = path.parent.relative_to(CONFIG_DIR).as_posix()
        if group != "." and group.split("/")[0] != "hydra":
            options.setdefault(group, set()).add(path.stem)
    return options


@pytest.mark.parametrize("script, main", [("train.py", distill.cli.train.main), ("pipeline.py", distill.cli.pipeline.main)],
                         ids=["train.py", "pipeline.py"])
def test_help_lists_every_option_of_every_group(script: str, main: Callable[[], None], tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    """The real hydra entry points, in this process: what ``python train.py --help`` prints."""
    mine = tmp_path / "mine" / "model"
    mine.mkdir(parents=True)
    (mine / "my_net.yaml").write_text("defaults:\n  - logistic\n  - _self_\n")
    monkeypatch.chdir(ROOT)
    done = in_process(main, [script, "--config-dir", str(tmp_path / "mine"), "--help"], monkeypatch, capsys)
    out = done.stdout
    assert done.returncode == 0, done.stderr[-2000:]
    listed = listed_groups(out)
    shipped = shipped_options()
    assert {"model", "distill", "data", "teacher", "transfer", "experiment"} <= set(shipped)
    for group, options in shipped.items():
        assert options <= listed.get(group, set()), (group, options - listed.get(group, set()))
    assert "my_net" in listed["model"]  # the user's own, through --config-dir
    assert "distill-pipeline experiment=quickstart" in out


def test_the_configuration_doc_names_every_option_of_every_group() -> None:
    rows = {match[0]: match[1] for match in re.findall(r"^\| `([\w/]+)` \|(.*)$",
                                                     (ROOT / "docs" / "configuration.md").read_text(), re.M)}
    for group, options in shipped_options().items():
        assert group in rows, group
        assert {option for option in options if f"`{option}`" not in rows[group]} == set(), group
