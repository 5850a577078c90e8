"""A model card (``README.md``) beside each exported model, as the Hugging Face Hub shows one.

Whoever receives an export folder should learn what the model is, what it was distilled from
and on what, how well it does and what it costs, how texts are cleaned before it reads them,
and how to load it, without the run folder. Every number comes from the run's records:
``metrics.json`` (accuracy, agreement with the teacher), the export's ``manifest.json`` and
files (parameters, size on disk, ``distill.serving.size``), and ``<run>/inference.json``
(documents/s and the host, written by ``benchmarks/inference.py``) when the run was timed;
"not measured" otherwise. The front matter is the Hub's YAML (license, tags, model-index).
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from distill.logit_store import LogitStore, LogitStoreError
from distill.serving.size import preprocessing_files, size_on_disk_mb

LICENSE = "other"  # the weights derive from the teacher's pretrained model and the data: their terms apply
TEACHERS = ("teacher_ensemble", "teacher")  # the distillation teacher first, as in distill.report
CLEANING = {"headers": "Usenet headers", "footers": "signature footers", "quotes": "quoted replies"}


def _number(value: float | None, digits: int = 4) -> str:
    return "not measured" if value is None else f"{value:.{digits}f}"


def timing(run: Path, name: str, checkpoint_sha256: str | None) -> tuple[dict, dict] | None:
    """The ONNX Runtime record of ``name`` in ``<run>/inference.json`` and the host, when it timed this checkpoint."""
    path = run / "inference.json"
    if not path.is_file():
        return None
    document = json.loads(path.read_text())
    for record in document.get("records", []):
        if (record.get("model") == name and record.get("runtime") == "onnxruntime" and "error" not in record
                and record.get("checkpoint_sha256") in (None, checkpoint_sha256)):
            return record, document.get("machine", {})
    return None


def teacher_line(run: Path, stage: Path, record: dict) -> str:
    """What the model learnt from: its labels only, or a teacher's logits (with the teacher's origin)."""
    if record["role"] == "teacher":
        pretrained = _store_source(stage).get("pretrained")
        return f"It is the teacher: {f'`{pretrained}`' if pretrained else 'a pretrained transformer'}, fine-tuned."
    distill = record.get("distill") or {}
    if not distill.get("alpha", 0.0) > 0.0:  # as DistillationLoss.uses_teacher
        return "It learnt from the labels only (no teacher)."
    teacher = next((run / name for name in TEACHERS if (run / name / "logits.npz").is_file() and run / name != stage),
                   None)
    origin = _store_source(teacher).get("pretrained") if teacher else None
    settings = ", ".join(f"{key} {distill[key]}" for key in ("kind", "alpha", "temperature") if key in distill)
    who = f"the run's `{teacher.name}`" if teacher else "a teacher's stored logits"
    return f"It was distilled from {who}{f' (fine-tuned from `{origin}`)' if origin else ''}: {settings}."


def _store_source(stage: Path | None) -> dict:
    try:
        return LogitStore.load(stage / "logits.npz").manifest.get("source", {}) if stage else {}
    except (LogitStoreError, OSError):
        return {}


def data_line(run: Path, stage: Path, labels: list[str]) -> str:
    """The data module the run trained on and the evaluated split sizes, from the run's records."""
    config = next((path for path in (stage / ".hydra" / "config.yaml", run / ".hydra" / "config.yaml")
                   if path.is_file()), None)
    module = (yaml.safe_load(config.read_text()).get("data") or {}).get("_target_") if config else None
    try:
        splits = LogitStore.load(stage / "logits.npz").manifest["splits"]
        sizes = ", ".join(f"{value['examples']} {name}" for name, value in sorted(splits.items()))
    except (LogitStoreError, OSError, KeyError):
        sizes = "unknown"
    return (f"Data: {f'`{module}`' if module else 'the run’s data module'}, {len(labels)} classes "
            f"({', '.join(labels)}); documents scored: {sizes}.")


def render(name: str, stage: Path, export: Path, manifest: dict) -> str:
    """The card's Markdown, front matter first."""
    run = stage if (stage / ".hydra").is_dir() else stage.parent  # a train.py run, or a pipeline's stage
    record = json.loads((stage / "metrics.json").read_text())
    metrics = record.get("metrics", {})
    val_acc, test_acc = metrics.get("val/acc_best", metrics.get("val/acc")), metrics.get("test/acc")
    agreement = metrics.get("test/agreement")
    size_mb = size_on_disk_mb(export / manifest["onnx"], *preprocessing_files(export))
    timed = timing(run, name, manifest.get("checkpoint_sha256"))
    docs_s = timed[0]["throughput_docs_s"] if timed else None
    host = (f"{timed[1].get('cpu', '?')}, {timed[1].get('threads', '?')} threads" if timed else "not measured")
    strip = record.get("cleaning", {}).get("strip", manifest.get("cleaning", {}).get("strip", []))
    results = [{"type": "accuracy", "name": f"{split} accuracy", "value": value}
               for split, value in (("val", val_acc), ("test", test_acc)) if value is not None]
    if agreement is not None:
        results.append({"type": "agreement", "name": "test agreement with the teacher", "value": agreement})
    front = {"license": LICENSE, "library_name": "onnx", "pipeline_tag": "text-classification",
             "tags": ["distill", "knowledge-distillation", manifest["net"], manifest["role"]],
             "model-index": [{"name": name, "results": [{"task": {"type": "text-classification"},
                                                         "metrics": results}]}]}
    parts = [CLEANING[part] for part in strip]
    cleaning = " and ".join([", ".join(parts[:-1]), parts[-1]] if len(parts) > 1 else parts) or "nothing"
    length = manifest["max_length"]
    reads = f"reads at most {length} tokens (the rest is ignored)" if length else "reads the whole text"
    inputs = ", ".join(f"`{key}` {value['dtype']} {value['shape']}" for key, value in manifest["inputs"].items())
    lines = [
        "---", yaml.safe_dump(front, sort_keys=False).rstrip(), "---", "", f"# {name}", "",
        f"A `{manifest['net']}` text classifier ({manifest['role']}, model `{manifest['model']}`) over "
        f"{manifest['kind']} features, exported to ONNX (opset {manifest['opset']}) by `distill.export` from the "
        f"run stage `{manifest['stage']}`. {teacher_line(run, stage, record)}", "",
        data_line(run, stage, manifest["labels"]), "",
        "| | |", "|---|---:|",
        f"| val accuracy | {_number(val_acc)} |", f"| test accuracy | {_number(test_acc)} |",
        f"| test agreement with the teacher | {_number(agreement) if record['role'] != 'teacher' else '-'} |",
        f"| parameters | {manifest.get('params', 'not recorded')} |",
        f"| size on disk (model.onnx and preprocessing) | {size_mb:.2f} MB |",
        f"| documents/s (ONNX Runtime, batch 64) | {_number(docs_s, 1)} |", f"| host | {host} |", "",
        "## Text cleaning", "",
        f"Before the model reads a text, {cleaning} are stripped, as in training "
        f"(`distill.data.strip.strip_message` with {strip}); the model {reads}. `distill.serving` does both "
        "for you.", "",
        "## How to load it", "",
        "```python", "from distill.serving import load", "", f'model = load("{export.name}")  # this folder',
        'model.predict(["the shuttle launch slipped a week"])', "```", "",
        f"With ONNX Runtime alone, clean and encode the text as `features.json` records, then feed {inputs}:", "",
        "```python", "import onnxruntime", "",
        f'session = onnxruntime.InferenceSession("{export.name}/model.onnx")',
        'logits = session.run(["logits"], inputs)[0]  # one row per text, columns in the order of "labels"',
        "```", "",
        f"License: `{LICENSE}`: the weights derive from the teacher's pretrained model and the training data; "
        "their terms apply. Set the license before you publish the model.", "",
    ]
    return "\n".join(lines)


def write_card(stage: Path, export: Path) -> Path:
    """Write ``<export>/README.md`` from the export's manifest and the run's records."""
    from distill.atomic import write_text

    manifest = json.loads((export / "manifest.json").read_text())
    path = export / "README.md"
    write_text(path, render(export.name, Path(stage), Path(export), manifest))
    return path
