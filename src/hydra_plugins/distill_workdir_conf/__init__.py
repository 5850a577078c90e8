"""Hydra finds a ``conf/`` folder of the working folder beside distill's own configs.

A user adds a model or an experiment (``conf/model/my_net.yaml`` is ``model=my_net``) or the
untracked ``conf/local/default.yaml`` without forking the package. Hydra discovers this
plugin in the ``hydra_plugins`` namespace; it changes only the search path of distill's
commands (whose main config folder is ``distill/conf``), so other Hydra apps are untouched.
The working folder's configs come before the shipped ones, ``--config-dir`` before both.
"""

from __future__ import annotations

from pathlib import Path

from hydra.core.config_search_path import ConfigSearchPath
from hydra.plugins.search_path_plugin import SearchPathPlugin


class DistillWorkdirConf(SearchPathPlugin):
    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        ours = any(entry.provider == "main" and entry.path.rstrip("/").endswith("distill/conf")
                   for entry in search_path.get_path())
        workdir_conf = Path("conf").resolve()
        if ours and workdir_conf.is_dir() and not (workdir_conf / "train.yaml").is_file():
            search_path.prepend(provider="distill-workdir", path=f"file://{workdir_conf}")
