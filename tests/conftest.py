"""Shared fixtures: a synthetic 20news-style corpus on disk and a composed, shrunken config."""

from __future__ import annotations

import importlib.util
import io
import logging
import os
import random
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Callable
from types import ModuleType
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, open_dict

# pytest-xdist's workers share the cores: each worker, and every process it starts, gets its share of threads,
# or the OpenMP and BLAS pools of all workers spin on the same cores. Set before anything imports torch.
if "PYTEST_XDIST_WORKER_COUNT" in os.environ:
    THREADS = str(max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"])))
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(variable, THREADS)

ROOT = Path(__file__).resolve().parents[1]
CONFIG_DIR = str(ROOT / "src" / "distill" / "conf")
REAL_ARCHIVE = ROOT.parent / "shared" / "data" / "20news-bydate.tar.gz"

# The longest files first (subprocesses, several tiny trainings: 15-50 s each on 2 cores), so that
# pytest-xdist's two workers finish together instead of one waiting on a long file at the end; the
# workers take files in collection order (pyproject: --no-loadscope-reorder). The first file builds
# the shared trained_run while the second worker starts on a file that does not need it. Refresh the
# order from `pytest -n 0 --durations=0` when it drifts; a file not named here runs after these.
LONGEST_FIRST = ("test_inference_benchmark.py", "test_wheel.py", "test_pipeline.py", "test_ddp.py", "test_serve.py",
                 "test_console.py", "test_transfer_pipeline.py", "test_sweep.py", "test_serve_browser.py",
                 "test_export.py", "test_configs.py", "test_own_teacher_pipeline.py", "test_own_teacher.py",
                 "test_model_card.py", "test_classic.py", "test_artifacts.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: position for position, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: a file's own order is kept


GROUPS = {
    "comp.graphics": "pixel render shader polygon texture image",
    "rec.autos": "engine wheel brake gearbox tyre driver",
    "sci.space": "orbit rocket launch nasa shuttle moon",
}


def _message(rng: random.Random, group: str, number: int) -> str:
    """A Usenet message with a header, a quote, a body and (sometimes) a signature."""
    words = GROUPS[group].split()
    body = " ".join(rng.choice(words) for _ in range(rng.randint(5, 60)))
    lines = [f"From: user{number}@example.com", f"Subject: re {group}", "Organization: Test", ""]
    if number % 3 == 0:
        lines += [f"In article <{number}@x>, someone writes:", "> quoted line to drop", "| piped quote"]
    if number % 7 == 0:
        lines += [""]  # empty after stripping: headers only, no body
    else:
        lines += [body, "more text caf\xe9 na\xefve"]
    if number % 4 == 0:
        lines += ["", "-- ", "Sig Nature, Example Corp"]
    return "\n".join(lines) + "\n"


def write_corpus(root: Path, per_group: tuple[int, int] = (24, 12), seed: int = 0) -> dict[str, str]:
    """Write ``20news-bydate-{train,test}/<group>/<number>`` files; return {relative path: text}."""
    rng = random.Random(seed)
    files, number = {}, 1000
    for split, count in zip(("train", "test"), per_group):
        for group in GROUPS:
            for _ in range(count):
                number += 1
                relative = f"20news-bydate-{split}/{group}/{number}"
                files[relative] = _message(rng, group, number)
    for relative, text in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(text.encode("latin-1"))
    return files


@pytest.fixture(scope="session")
def corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An extracted synthetic corpus in the 20news-bydate layout."""
    root = tmp_path_factory.mktemp("corpus")
    write_corpus(root)
    return root


@pytest.fixture(scope="session")
def corpus_archive(corpus_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same synthetic corpus packed as 20news-bydate.tar.gz."""
    path = tmp_path_factory.mktemp("archive") / "20news-bydate.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        for file in sorted(corpus_dir.rglob("*")):
            if file.is_file():
                data = file.read_bytes()
                info = tarfile.TarInfo(str(file.relative_to(corpus_dir)))
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
    return path


TINY_TEACHER = {
    "hidden_size": 32,
    "num_hidden_layers": 1,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "max_position_embeddings": 64,
}


def make_cfg(tmp_path: Path, archive: Path, overrides: list[str] = ()) -> DictConfig:
    """The real config, shrunk: synthetic data, tiny random teacher, CPU, short runs."""
    base = [] if "data=csv" in overrides else [f"data.archive={archive}"]
    base += [
        f"paths.output_dir={tmp_path / 'run'}",
        f"paths.cache_dir={tmp_path / 'cache'}",
        "teacher.max_length=32",
        "trainer.accelerator=cpu",
        "trainer.max_epochs=1",
        "trainer.log_every_n_steps=1",
        "++trainer.enable_progress_bar=false",
        "++trainer.enable_model_summary=false",
        "logger=csv",
        "++callbacks.progress_bar=null",
        "data.val_fraction=0.2",
    ]
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(config_name="train", overrides=[*base, *overrides])
    if cfg.model.role == "teacher":
        with open_dict(cfg):
            cfg.model.module.net.pretrained = None
            cfg.model.module.net.config = dict(TINY_TEACHER)
    return cfg


def in_process(main: Callable[[], object], argv: list[str], monkeypatch: pytest.MonkeyPatch,
               capsys: pytest.CaptureFixture[str]) -> subprocess.CompletedProcess:
    """A Hydra entry point run in this process as its command would run: its exit status (0 when it
    returns) and what it printed, without the seconds a new process spends importing. The root logger's
    handlers are restored after: Hydra's write to this test's captured streams, closed once it ends."""
    monkeypatch.setattr(sys, "argv", argv)
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)  # a user error would otherwise show its traceback
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    capsys.readouterr()
    code: int | str | None = 0
    try:
        main()
    except SystemExit as exit:
        code = exit.code
    finally:
        for handler in set(root.handlers) - set(handlers):
            handler.close()
        root.handlers[:] = handlers
        root.setLevel(level)
    said = capsys.readouterr()
    return subprocess.CompletedProcess(argv, code, said.out, said.err)


def benchmark_module(name: str) -> ModuleType:
    """``benchmarks/<name>.py`` imported as module ``name`` (it may import its neighbours loaded this way)."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
        sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[name])
    return sys.modules[name]


SERVE_BILSTM = ["model=bilstm", "model.module.net.embedding_init=null", "+model.module.net.embedding_dim=16",
                "model.module.net.hidden_size=16", "model.module.net.head_size=16"]
SERVE_STAGES = {  # in this order: the distilled students read the teacher's logits
    "teacher": ["model=teacher_minilm", "model.module.lr=5e-3", "model.batch_size=8"],
    "logistic_kd": ["model=logistic", "distill=kl", "stage.browser=true"],
    "bilstm_kd": [*SERVE_BILSTM, "distill=kl", "stage.blend_with=[logistic_kd]"],
    "sk_complementnb": ["model=sk_complementnb", "model.out_of_fold=2"],
}


def pipeline_shaped_run(root: Path, archive: Path, stages: dict[str, list[str]], *extra: str) -> Path:
    """The stages trained in order into ``root/run/<stage>``, with the teacher's config saved as the run's."""
    from omegaconf import OmegaConf

    from distill.cli.runners import run

    for stage, overrides in stages.items():
        cfg = make_cfg(root / "scratch", archive, [*overrides, *extra])
        with open_dict(cfg):
            cfg.paths.output_dir = str(root / "run" / stage)
        run(cfg)
        if stage == "teacher":
            (root / "run" / ".hydra").mkdir(parents=True)
            OmegaConf.save(cfg, root / "run" / ".hydra" / "config.yaml")
    return root / "run"


def built_once(tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], None]) -> Path:
    """A folder that ``build`` fills once per test session, under pytest-xdist too: the workers'
    temporary folders share a parent, where the first worker to ask builds it under a file lock."""
    if "PYTEST_XDIST_WORKER" not in os.environ:
        folder = tmp_path_factory.mktemp(name)
        build(folder)
        return folder
    from filelock import FileLock

    folder = tmp_path_factory.getbasetemp().parent / name
    with FileLock(f"{folder}.lock"):
        if not (folder / ".built").is_file():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            build(folder)
            (folder / ".built").touch()
    return folder


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory: pytest.TempPathFactory, corpus_archive: Path) -> Path:
    """A pipeline-shaped run: teacher, two distilled students, a classic model, its config, and what a
    server's first start writes (ONNX, the browser's logistic student, the ensemble's fit). Trained and exported
    once per session and shared by the files that need such a run: read only; copy it before writing into it."""
    def build(root: Path) -> None:
        from distill.cli.serve import run_splits
        from distill.web.models import prepare

        run = pipeline_shaped_run(root, corpus_archive, SERVE_STAGES, "trainer.max_epochs=2")
        prepare(run, lambda: run_splits(run))

    return built_once(tmp_path_factory, "trained_run", build) / "run"


@pytest.fixture(scope="session")
def serve_run(trained_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This worker's copy of the trained run, exported, for the in-process and browser tests of the web server."""
    own = tmp_path_factory.mktemp("serve") / "run"
    shutil.copytree(trained_run, own)
    return own
