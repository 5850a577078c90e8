"""wandb, offline: a run logs its config, metrics and group under its output folder and is always closed."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import in_process, make_cfg
from distill.cli.train import main

wandb = pytest.importorskip("wandb")
from wandb.proto import wandb_internal_pb2  # noqa: E402  (only once wandb is known to be installed)

STUDENT = ["model=logistic", "distill=none", "logger=wandb", "model.batch_size=8"]  # no teacher cache needed
WANDB_ENV = ("WANDB_DIR", "WANDB_CACHE_DIR", "WANDB_CONFIG_DIR", "WANDB_DATA_DIR")


@pytest.fixture
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """No account, no network: wandb writes only under tmp_path. Yields the environment."""
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    for name in WANDB_ENV:
        (tmp_path / name.lower()).mkdir()
        monkeypatch.setenv(name, str(tmp_path / name.lower()))
    yield dict(os.environ)
    if wandb.run is not None:  # a failing test must not hand its run to the next one
        wandb.finish(exit_code=1)


def wandb_records(output_dir: Path, timeout: float = 60.0) -> list[wandb_internal_pb2.Record]:
    """The records of the one offline run under ``output_dir``, once its exit record is written.

    wandb-core writes the file in the background, so it may lag behind ``wandb.finish()``.
    """
    (path,) = output_dir.glob("wandb/offline-run-*/run-*.wandb")
    deadline = time.monotonic() + timeout
    while True:
        records = read_records(path.read_bytes())
        if any(record.HasField("exit") for record in records):
            return records
        assert time.monotonic() < deadline, f"{path} has no exit record after {timeout} s"
        time.sleep(0.2)


def read_records(data: bytes) -> list[wandb_internal_pb2.Record]:
    """Parse a ``.wandb`` file: a 7-byte header, then a LevelDB-style log of 32 KiB blocks of
    chunks, each a 7-byte header (crc, length, type) and a piece of a protobuf ``Record``."""
    block, position, pending, records = 32768, 7, b"", []
    while position + 7 <= len(data):
        if block - position % block < 7:  # too little room for a chunk header: zero padding
            position += block - position % block
            continue
        length, kind = int.from_bytes(data[position + 4:position + 6], "little"), data[position + 6]
        if position + 7 + length > len(data):  # a chunk still being written
            break
        pending += data[position + 7:position + 7 + length]
        position += 7 + length
        if kind in (1, 4):  # a whole record, or the last piece of one
            records.append(wandb_internal_pb2.Record.FromString(pending))
            pending = b""
    return records


def history(records: list[wandb_internal_pb2.Record], key: str) -> list[float]:
    """Every value logged under ``key``, in order."""
    return [json.loads(item.value_json) for record in records if record.HasField("history")
            for item in record.history.item if (item.key or "/".join(item.nested_key)) == key]


def run_record(records: list[wandb_internal_pb2.Record]) -> wandb_internal_pb2.RunRecord:
    """The run's own record: its id, name and group."""
    (run,) = [record.run for record in records if record.HasField("run")]
    return run


def exit_code(records: list[wandb_internal_pb2.Record]) -> int:
    """What ``wandb.finish`` recorded: 0, or 1 for a run that raised."""
    (code,) = [record.exit.exit_code for record in records if record.HasField("exit")]
    return code


def test_offline_run_logs_config_metrics_and_group(
    offline: dict[str, str], tmp_path: Path, corpus_archive: Path
) -> None:
    cfg = make_cfg(tmp_path, corpus_archive, STUDENT)
    best = main(cfg)
    assert wandb.run is None, "a finished run must close its wandb run"

    records = wandb_records(tmp_path / "run")
    assert run_record(records).run_group == cfg.logger.wandb.group
    config = {item.key: json.loads(item.value_json) for record in records if record.HasField("config")
              for item in record.config.update}
    assert config["model"]["name"] == "logistic" and config["distill"]["alpha"] == 0.0  # resolved config
    assert max(history(records, "val/acc")) == pytest.approx(best)
    assert history(records, "test/acc") and history(records, "train/loss_step")
    assert exit_code(records) == 0


def test_failed_run_is_finished_and_the_next_one_starts_fresh(
    offline: dict[str, str], tmp_path: Path, corpus_archive: Path
) -> None:
    failing = make_cfg(tmp_path / "failing", corpus_archive, [*STUDENT, "model.module.lr=inf"])
    with pytest.raises(FloatingPointError, match="non-finite training loss"):
        main(failing)
    assert wandb.run is None, "a failed run must close its wandb run"
    assert exit_code(wandb_records(tmp_path / "failing" / "run")) == 1

    main(make_cfg(tmp_path / "next", corpus_archive, STUDENT))
    records = wandb_records(tmp_path / "next" / "run")
    assert history(records, "val/acc") and exit_code(records) == 0


def test_multirun_jobs_share_one_group(
    offline: dict[str, str], tmp_path: Path, corpus_archive: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str]
) -> None:
    """Two in-process jobs of one multirun (``train.py -m``, run here): two wandb runs, one group (the
    sweep folder's timestamp)."""
    result = in_process(main, [
        "train.py", "-m", *STUDENT, "seed=1,2", f"data.archive={corpus_archive}",
        "data.val_fraction=0.2", "trainer.accelerator=cpu", "trainer.max_epochs=1",
        "++trainer.enable_progress_bar=false", "++trainer.enable_model_summary=false",
        "++callbacks.progress_bar=null", f"paths.cache_dir={tmp_path / 'cache'}",
        f"paths.log_dir={tmp_path}",  # hydra.sweep.dir keeps its default: <log_dir>/train-multirun/<time>
    ], monkeypatch, capsys)
    assert result.returncode == 0, result.stderr[-2000:]

    (sweep_dir,) = tmp_path.glob("train-multirun/*")
    assert f"sweep folder: {sweep_dir}" in result.stdout  # the default folder, named at the end
    runs = [run_record(wandb_records(sweep_dir / job)) for job in ("0", "1")]
    assert runs[0].run_id != runs[1].run_id
    assert runs[0].run_group == runs[1].run_group == sweep_dir.name
