"""Export a run's trained models to ONNX, with their preprocessing, for torch-free serving.

    python -m distill.export logs/pipeline/<time>            # -> logs/pipeline/<time>/export/<stage>/
    python -m distill.export logs/train/<time> --out models/  # a single train.py run
    python -m distill.export logs/pipeline/<time> --format web  # -> <run>/export/web/<stage>.json

Every stage whose ``metrics.json`` names a Lightning checkpoint becomes ``<out>/<stage>/``
with ``model.onnx`` (float32, opset 18, dynamic batch and sequence axes), the preprocessing
files (``features.json`` records the text cleaning too), ``manifest.json`` and a model card
``README.md`` (``distill.model_card``);
``distill.serving.load`` serves it. Each graph is checked against PyTorch on inputs of a
shape it was not traced with. ``--format web`` writes each logistic student as one JSON file
for the browser instead (``distill.web_export``).

The net decides how it is exported, so a new net needs no change here: ``onnx_graph()``
(when it has one) gives an export-friendly module computing the same function, and
``onnx_exporter = "torchscript"`` asks for the TorchScript exporter instead of the default
``torch.export``-based one.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import torch
from torch import nn

from distill.atomic import atomic_path, write_bytes, write_text
from distill.errors import UserError
from distill.logit_store import file_sha256
from distill.model_card import write_card
from distill.nets.checkpoint import load_net
from distill.nets.size import weights_size
from distill.preprocessing import Preprocessing
from distill.run_folder import artefact, networks, read_record
from distill.web_export import export_web, is_tfidf_student

OPSET = 18
TOLERANCE = 1e-4


def export_onnx(net: nn.Module, preprocessing: Preprocessing, path: Path) -> str:
    """Trace ``net`` into ``path`` (atomically); returns the exporter used."""
    transform = preprocessing.transform
    graph = (net.onnx_graph() if hasattr(net, "onnx_graph") else net).eval()
    exporter = getattr(net, "onnx_exporter", "dynamo")
    # batch 2, lengths 4 and 5: no dimension is 0 or 1, so none is specialised away
    inputs = tuple(torch.from_numpy(array) for array in transform.example([4, 5]).values())
    names = list(transform.inputs)
    with atomic_path(path) as temporary, torch.no_grad():
        if exporter == "torchscript":
            dynamic_axes = {name: dict(enumerate(axes)) for name, (_, axes) in transform.inputs.items()}
            torch.onnx.export(graph, inputs, str(temporary), input_names=names, output_names=["logits"],
                              dynamic_axes=dynamic_axes, opset_version=OPSET, dynamo=False)
        else:
            dims = {axis: torch.export.Dim(axis) for _, axes in transform.inputs.values() for axis in axes}
            dynamic_shapes = {name: {index: dims[axis] for index, axis in enumerate(axes)}
                              for name, (_, axes) in transform.inputs.items()}
            torch.onnx.export(graph, inputs, str(temporary), input_names=names, output_names=["logits"],
                              dynamic_shapes=dynamic_shapes, opset_version=OPSET, external_data=False,
                              verbose=False)
    return exporter


def verify(net: nn.Module, preprocessing: Preprocessing, path: Path) -> float:
    """The largest difference of ONNX and PyTorch logits on a batch shaped unlike the traced one."""
    inputs = preprocessing.transform.example([6, 1, 3], seed=1)
    with torch.no_grad():
        expected = net(**{name: torch.from_numpy(array) for name, array in inputs.items()}).numpy()
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    difference = float(np.abs(session.run(["logits"], inputs)[0] - expected).max())
    if not difference < TOLERANCE:
        raise RuntimeError(f"{path}: ONNX and PyTorch logits differ by {difference:.2e}")
    return difference


def export_stage(stage: Path, out: Path) -> Path:
    """Write ``out`` afresh: model.onnx, the stage's preprocessing files, then manifest.json (last)."""
    shutil.rmtree(out, ignore_errors=True)  # no stale files from an earlier export
    record = read_record(stage)
    checkpoint = artefact(stage, record)
    net = load_net(checkpoint)
    preprocessing = Preprocessing(stage / record["features"])
    exporter = export_onnx(net, preprocessing, out / "model.onnx")
    difference = verify(net, preprocessing, out / "model.onnx")
    for file in preprocessing.files:
        write_bytes(out / file.name, file.read_bytes())
    inputs = {name: {"dtype": dtype, "shape": list(axes)} for name, (dtype, axes) in preprocessing.transform.inputs.items()}
    manifest = {
        "model": record["model"],
        "stage": stage.name,
        "checkpoint_sha256": file_sha256(checkpoint),
        "role": record["role"],
        "net": type(net).__name__,
        "params": int(weights_size(net)["params"]),
        "kind": preprocessing.kind,
        "onnx": "model.onnx",
        "inputs": inputs,
        "outputs": {"logits": {"dtype": "float32", "shape": ["batch", len(preprocessing.labels)]}},
        "labels": preprocessing.labels,
        "cleaning": preprocessing.cleaning,
        "max_length": preprocessing.max_length,
        "opset": OPSET,
        "exporter": exporter,
        "max_abs_difference": difference,
        "versions": {"torch": torch.__version__, "onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__},
    }
    write_text(out / "manifest.json", json.dumps(manifest, indent=2))
    write_card(stage, out)
    return out


def export_run(run: str | Path, out: str | Path | None = None, format: str = "onnx") -> list[Path]:
    """Export every stage of ``run`` to ``out`` (default ``<run>/export``); returns the folders
    (``format="web"``: the JSON files of its logistic students, under ``<out>/web/``)."""
    run = Path(run)
    if not run.is_dir():
        raise UserError(f"{run} is not a folder: give a pipeline.py run folder (logs/pipeline/<time>) "
                        "or a train.py run folder (logs/train/<time>)")
    out = Path(out) if out is not None else run / "export"
    found = networks(run)
    if not found:
        raise UserError(f"{run} holds no trained network with its checkpoint (classic models and committed "
                        "runs with logits only are not exported): give a run folder of train.py or pipeline.py")
    if format == "web":
        found = {name: stage for name, stage in found.items() if is_tfidf_student(stage)}
        if not found:
            raise UserError(f"{run} holds no logistic (TF-IDF) student: --format web exports only those")
    exported = []
    for name, stage in found.items():
        if format == "web":
            exported.append(export_web(stage, out / "web" / f"{name}.json"))
        else:
            exported.append(export_stage(stage, out / name))
        print(f"[export] {stage} -> {exported[-1]}")
    return exported


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m distill.export", description=__doc__.splitlines()[0],
                                     usage="%(prog)s <run> [--out DIR] [--format onnx|web] [--debug]")
    parser.add_argument("run", type=Path, help="a pipeline.py run folder, or one train.py run folder")
    parser.add_argument("--out", type=Path, default=None, help="where to write (default: <run>/export)")
    parser.add_argument("--format", choices=("onnx", "web"), default="onnx",
                        help="onnx: every network, for distill.serving; web: logistic students as JSON for a browser")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    args = parser.parse_args(argv)
    from distill.console import quiet_third_party, user_errors

    quiet_third_party()
    with user_errors(parser, args.debug):
        export_run(args.run, args.out, args.format)


if __name__ == "__main__":
    main()
