"""Export a run's trained models to ONNX, with their preprocessing, for torch-free serving.

    python -m distill.export logs/pipeline/<time>            # -> logs/pipeline/<time>/export/<stage>/
    python -m distill.export logs/train/<time> --out models/  # a single train.py run

Every stage folder holding ``features/`` (written by train.py next to the best checkpoint)
becomes ``<out>/<stage>/`` with ``model.onnx`` (float32, opset 18, dynamic batch and
sequence axes), the preprocessing files and ``manifest.json``; ``distill.onnx_predict``
loads it. Each graph is checked against PyTorch on inputs of a shape it was not traced with.

Exporters, per model:

* teacher (BERT): the default ``torch.export``-based exporter.
* logistic student: the same exporter, but not on ``nn.EmbeddingBag``, which it turns into
  an ONNX Loop over bags (about 4x slower at batch 256). ``BagSumLinear`` computes the same
  sum as one Gather of weight rows, a Mul by the TF-IDF weights and a ScatterAdd into the
  bags, with the same inputs (indices, offsets, weights).
* BiLSTM student: the TorchScript exporter (``dynamo=False``). ``torch.export`` unrolls
  ``nn.LSTM`` over the traced sequence length, so its graph is silently wrong for any other
  length; the TorchScript exporter emits ONNX LSTM nodes, which take any length.
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
from distill.cache import TeacherLogits, file_sha256
from distill.models import BiLSTMModule, LogisticModule, TeacherModule
from distill.models.bilstm import BiLSTMNet
from distill.models.logistic import SparseLinearNet

OPSET = 18
TOLERANCE = 1e-4
# Input name -> (dtype, axes), per preprocessing kind; every axis is a dynamic dimension.
INPUTS = {
    "wordpiece": {"input_ids": ("int64", ("batch", "sequence")), "attention_mask": ("int64", ("batch", "sequence"))},
    "tfidf": {"indices": ("int64", ("nnz",)), "offsets": ("int64", ("batch",)), "weights": ("float32", ("nnz",))},
}
MODULES = {
    ("teacher", "wordpiece"): TeacherModule,
    ("student", "wordpiece"): BiLSTMModule,
    ("student", "tfidf"): LogisticModule,
}


class BagSumLinear(nn.Module):
    """``SparseLinearNet`` without EmbeddingBag: gather rows, weight them, scatter-add per bag.

    Each non-zero's bag is the number of offsets at or before it, minus one: a ScatterAdd of
    ones at the offsets, then a cumulative sum. Empty bags (empty documents) get the bias.
    """

    def __init__(self, net: SparseLinearNet) -> None:
        super().__init__()
        self.weight = net.weight.weight
        self.bias = net.bias

    def forward(self, indices: torch.Tensor, offsets: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        starts = torch.zeros(indices.shape[0] + 1, dtype=torch.long).index_add(0, offsets, torch.ones_like(offsets))
        bag = starts[:-1].cumsum(0) - 1
        rows = self.weight[indices] * weights.unsqueeze(1)
        return torch.zeros(offsets.shape[0], self.weight.shape[1], dtype=rows.dtype).index_add(0, bag, rows) + self.bias


def example_inputs(kind: str, lengths: list[int], vocab_size: int) -> dict[str, torch.Tensor]:
    """Random model inputs, one document per entry of ``lengths`` (tokens or non-zeros)."""
    generator = torch.Generator().manual_seed(0)
    if kind == "tfidf":
        total = sum(lengths)
        return {
            "indices": torch.randint(0, vocab_size, (total,), generator=generator),
            "offsets": torch.tensor([0, *np.cumsum(lengths)[:-1]], dtype=torch.long),
            "weights": torch.rand(total, generator=generator),
        }
    input_ids = torch.randint(0, vocab_size, (len(lengths), max(lengths)), generator=generator)
    attention_mask = (torch.arange(max(lengths)) < torch.tensor(lengths).unsqueeze(1)).long()
    return {"input_ids": input_ids * attention_mask, "attention_mask": attention_mask}


def export_onnx(net: nn.Module, kind: str, vocab_size: int, path: Path) -> str:
    """Trace ``net`` into ``path`` (atomically); returns the exporter used."""
    inputs = example_inputs(kind, [4, 5], vocab_size)  # batch 2, length 5, 9 non-zeros: no 0/1 specialisation
    axes = INPUTS[kind]
    legacy = isinstance(net, BiLSTMNet)
    with atomic_path(path) as temporary, torch.no_grad():
        if legacy:
            dynamic_axes = {name: dict(enumerate(names)) for name, (_, names) in axes.items()}
            torch.onnx.export(net, tuple(inputs.values()), str(temporary), input_names=list(axes),
                              output_names=["logits"], dynamic_axes=dynamic_axes, opset_version=OPSET,
                              dynamo=False)
        else:
            dims = {name: torch.export.Dim(name) for _, names in axes.values() for name in names}
            dynamic_shapes = {name: {axis: dims[dim] for axis, dim in enumerate(names)}
                              for name, (_, names) in axes.items()}
            torch.onnx.export(net, tuple(inputs.values()), str(temporary), input_names=list(axes),
                              output_names=["logits"], dynamic_shapes=dynamic_shapes, opset_version=OPSET,
                              external_data=False, verbose=False)
    return "torchscript" if legacy else "dynamo"


def verify(net: nn.Module, kind: str, vocab_size: int, path: Path) -> None:
    """Compare ONNX and PyTorch logits on a batch shaped unlike the traced one."""
    inputs = example_inputs(kind, [6, 1, 3], vocab_size)
    with torch.no_grad():
        expected = net(**inputs).numpy()
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    actual = session.run(["logits"], {name: value.numpy() for name, value in inputs.items()})[0]
    difference = float(np.abs(actual - expected).max())
    if not difference < TOLERANCE:
        raise RuntimeError(f"{path}: ONNX and PyTorch logits differ by {difference:.2e}")


def best_checkpoint(stage: Path) -> Path:
    """The checkpoint whose logits the stage saved; looked up by name if the run has moved."""
    recorded = Path(TeacherLogits.load(stage / "logits.npz").manifest["teacher"]["checkpoint"])
    return recorded if recorded.is_file() else stage / "checkpoints" / recorded.name


def is_current(stage: Path, out: Path) -> bool:
    """Whether ``out`` holds a complete export of the stage's present best checkpoint.

    A stage re-run in the same folder (new settings) leaves its old export behind: serving or
    timing that graph would silently stand for a model the stage no longer holds.
    """
    manifest = out / "manifest.json"
    checkpoint = best_checkpoint(stage)
    return (manifest.is_file() and checkpoint.is_file()
            and json.loads(manifest.read_text()).get("checkpoint_sha256") == file_sha256(checkpoint))


def export_stage(stage: Path, out: Path) -> Path:
    """Write ``out`` afresh: model.onnx, the stage's preprocessing files, then manifest.json (last)."""
    shutil.rmtree(out, ignore_errors=True)  # no stale files from an earlier export
    summary = json.loads((stage / "metrics.json").read_text())
    spec = json.loads((stage / "features" / "features.json").read_text())
    checkpoint = best_checkpoint(stage)
    module = MODULES[summary["role"], spec["kind"]].load_from_checkpoint(checkpoint, map_location="cpu")
    net = module.net.float().eval()
    graph = BagSumLinear(net) if isinstance(net, SparseLinearNet) else net
    vocab_size = module.hparams.vocab_size
    exporter = export_onnx(graph, spec["kind"], vocab_size, out / "model.onnx")
    verify(net, spec["kind"], vocab_size, out / "model.onnx")
    for file in sorted((stage / "features").iterdir()):
        write_bytes(out / file.name, file.read_bytes())
    inputs = {name: {"dtype": dtype, "shape": list(axes)} for name, (dtype, axes) in INPUTS[spec["kind"]].items()}
    manifest = {
        "model": summary["model"],
        "stage": stage.name,
        "checkpoint_sha256": file_sha256(checkpoint),
        "role": summary["role"],
        "kind": spec["kind"],
        "onnx": "model.onnx",
        "inputs": inputs,
        "outputs": {"logits": {"dtype": "float32", "shape": ["batch", len(spec["labels"])]}},
        "labels": spec["labels"],
        "max_length": spec.get("max_length"),
        "opset": OPSET,
        "exporter": exporter,
        "versions": {"torch": torch.__version__, "onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__},
    }
    write_text(out / "manifest.json", json.dumps(manifest, indent=2))
    return out


def stages(run: Path) -> list[Path]:
    """The run itself (a train.py run) or its stage folders (a pipeline run) that have features."""
    if (run / "features").is_dir():
        return [run]
    return sorted(folder for folder in run.iterdir() if (folder / "features").is_dir())


def export_run(run: str | Path, out: str | Path | None = None) -> list[Path]:
    """Export every stage of ``run`` to ``out`` (default ``<run>/export``); returns the folders."""
    run = Path(run)
    out = Path(out) if out is not None else run / "export"
    found = stages(run)
    if not found:
        raise FileNotFoundError(f"{run} has no trained model with saved features (features/ next to checkpoints/)")
    exported = []
    for stage in found:
        target = out / (stage.name if stage != run else json.loads((run / "metrics.json").read_text())["model"])
        exported.append(export_stage(stage, target))
        print(f"[export] {stage} -> {target}")
    return exported


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m distill.export", description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a pipeline.py run folder, or one train.py run folder")
    parser.add_argument("--out", type=Path, default=None, help="where to write (default: <run>/export)")
    args = parser.parse_args(argv)
    export_run(args.run, args.out)


if __name__ == "__main__":
    main()
