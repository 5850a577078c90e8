"""Real DDP on CPU: two processes, one output folder, soft labels looked up by id on each rank."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
from hydra.utils import instantiate

from conftest import ROOT, make_cfg
from distill.logit_store import LogitStore


def test_ddp_on_two_cpu_processes(tmp_path: Path, corpus_archive: Path) -> None:
    cfg = make_cfg(tmp_path, corpus_archive, ["model=logistic", "teacher.max_length=32"])
    datamodule = instantiate(cfg.data, features=instantiate(cfg.model.features))
    splits = datamodule.load_splits()
    logits = {name: np.stack([corpus.ids, -corpus.ids, np.zeros(len(corpus))], 1).astype(np.float32)
              for name, corpus in splits.items()}
    cache = tmp_path / "id_logits.npz"
    teacher = {"kind": "teacher", "model": "synthetic", "pretrained": cfg.teacher.pretrained, "max_length": 32}
    LogitStore.from_predictions(splits, logits, teacher).save(cache)

    run_dir, reports = tmp_path / "run", tmp_path / "ranks"
    command = [
        sys.executable, "train.py", "model=logistic", "distill=kl", "distill.alpha=0.5",
        f"data.archive={corpus_archive}", f"teacher.logits={cache}", "teacher.max_length=32",
        "data.val_fraction=0.2", "model.batch_size=8",
        "trainer.accelerator=cpu", "trainer.devices=2", "+trainer.strategy=ddp", "trainer.max_epochs=1",
        "++trainer.enable_progress_bar=false", "++callbacks.progress_bar=null",
        "+callbacks.id_check._target_=tests.ddp_check.TeacherLogitsMatchIds",
        f"+callbacks.id_check.report_dir={reports}", f"hydra.run.dir={run_dir}",
        f"paths.log_dir={tmp_path / 'logs'}",  # where a second, per-rank run folder would appear
    ]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    counts = {path.name: int(path.read_text()) for path in reports.glob("rank*.txt")}
    assert set(counts) == {"rank0.txt", "rank1.txt"} and all(counts.values()), counts
    assert sum(counts.values()) >= len(splits["train"])
    assert (run_dir / "metrics.json").is_file()
    assert not (tmp_path / "logs").exists(), "rank 1 made an output folder of its own"
    assert len(list((run_dir / "checkpoints").glob("*.ckpt"))) == 1


def test_a_classifier_teacher_labels_on_two_cpu_processes_as_on_one(tmp_path: Path) -> None:
    """model=teacher_finetuned under DDP: each rank labels its own shards, rank 0 merges them by id
    into the same store one process writes (here, in this process)."""
    import os

    from hf_models import save_model
    from test_own_teacher import data_overrides, teacher_cfg, write_rows
    from distill.cli.runners import run

    for name, count in (("train.csv", 30), ("test.csv", 12)):
        write_rows(tmp_path / name, count, seed=count)
    write_rows(tmp_path / "more.jsonl", 20, seed=3, labelled=False)
    model = save_model(tmp_path / "model", "bert")
    one = teacher_cfg(tmp_path / "one", tmp_path, model, "teacher.shard_size=7", unlabelled=True)
    run(one)
    command = [sys.executable, str(ROOT / "train.py"), *data_overrides(tmp_path, unlabelled=True),
               "model=teacher_finetuned", f"teacher.pretrained={model}", "teacher.max_length=null",
               "teacher.backend=torch", "teacher.shard_size=7", "data.val_fraction=0.2",  # as teacher_cfg's make_cfg
               "trainer.accelerator=cpu", "trainer.devices=2", "+trainer.strategy=ddp", "hydra.run.dir=two",
               "paths.cache_dir=two_cache"]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    stores = {"one": LogitStore.load(Path(one.paths.output_dir) / "logits.npz"),
              "two": LogitStore.load(tmp_path / "two" / "logits.npz")}
    shards = list((tmp_path / "two" / "labelling").glob("*/shard-*.npz"))
    assert len(shards) == 9  # 30 + 12 + 20 documents, 7 a shard, labelled by two ranks
    for folder in {shard.parent for shard in shards}:  # the ranks' shards are disjoint: no document twice
        numbered = sorted(folder.glob("shard-*.npz"))
        assert [int(shard.stem.split("-")[1]) for shard in numbered] == list(range(len(numbered)))
        ids = np.concatenate([np.load(shard)["ids"] for shard in numbered])
        assert len(np.unique(ids)) == len(ids)
    assert sum(len(np.load(shard)["ids"]) for shard in shards) == 30 + 12 + 20
    assert set(stores["two"].ids) == {"train", "val", "test", "unlabelled"}
    for split, ids in stores["one"].ids.items():
        assert np.array_equal(np.sort(stores["two"].ids[split]), np.sort(ids))  # the same documents, no more
        np.testing.assert_allclose(stores["two"].aligned(split, ids), stores["one"].logits[split], atol=1e-5)
    rows = np.round(stores["one"].logits["unlabelled"], 4)  # every row its own, far beyond atol: a swap would show
    assert len(np.unique(rows, axis=0)) == len(rows)
