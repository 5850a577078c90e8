"""Labellers for ``distill.labelling``: a Hugging Face sequence classifier run by PyTorch, or
exported to ONNX and run by ONNX Runtime on CPU (float32, or with int8 weights).

Any classifier works, BERT or not: the tokenizer says which inputs it makes (``input_ids``,
``attention_mask``, ``token_type_ids`` for BERT only), and the graph is exported with those,
batch and sequence axes dynamic. ``backend="auto"`` times both on a sample of the texts to label
and keeps the faster: ONNX Runtime often wins on CPU, but not on every CPU, thread count and
model, so the choice is measured rather than assumed.
"""

from __future__ import annotations

import logging
import time
import warnings
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from distill.atomic import atomic_path
from distill.errors import UserError
from distill.labelling import Labeller

OPSET = 17
TOLERANCE = 1e-4  # the largest difference of ONNX Runtime and PyTorch float32 logits an export may show
BACKENDS = ("auto", "torch", "onnx")


class Classifier(Protocol):
    """What the labellers need of a teacher: its model, its own tokenizer, its truncation length."""

    model: nn.Module  # an AutoModelForSequenceClassification
    tokenizer: Any
    max_length: int


class TorchLabeller:
    """Texts -> logits with PyTorch, on the model's device."""

    def __init__(self, classifier: Classifier) -> None:
        self.model, self.tokenizer = classifier.model.eval(), classifier.tokenizer
        self.max_length = classifier.max_length

    def __call__(self, texts: list[str]) -> np.ndarray:
        device = next(self.model.parameters()).device
        encoded = self.tokenizer(texts, truncation=True, max_length=self.max_length, padding=True, return_tensors="pt")
        with torch.inference_mode():
            logits = self.model(**{name: value.to(device) for name, value in encoded.items()}).logits
        return logits.float().cpu().numpy()


class _Logits(nn.Module):
    """The classifier as a function of positional inputs (named ``names``) to its logits tensor."""

    def __init__(self, model: nn.Module, names: list[str]) -> None:
        super().__init__()
        self.model, self.names = model, names

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.model(**dict(zip(self.names, inputs))).logits


def export_onnx(classifier: Classifier, path: str | Path) -> Path:
    """The classifier as an ONNX graph at ``path``, written atomically; a graph already there is
    kept when it still gives this classifier's logits (a resumed labelling does not re-export)."""
    path = Path(path)
    if path.is_file() and verify(classifier, path) < TOLERANCE:
        return path
    model = classifier.model.eval().cpu()
    example = classifier.tokenizer(["a first example text", "a second, longer example text to trace with"],
                                   padding=True, return_tensors="pt")
    names = list(example)
    axes = {name: {0: "batch", 1: "sequence"} for name in names}
    with atomic_path(path) as temporary, torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer notes on shape checks that hold for every encoder input
        torch.onnx.export(_Logits(model, names), tuple(example.values()), str(temporary), input_names=names,
                          output_names=["logits"], dynamic_axes={**axes, "logits": {0: "batch"}},
                          opset_version=OPSET, dynamo=False)
        difference = verify(classifier, temporary)
        if not difference < TOLERANCE:
            raise RuntimeError(f"{path}: ONNX Runtime and PyTorch logits differ by {difference:.2e}")
    return path


def verify(classifier: Classifier, graph: str | Path) -> float:
    """The largest logit difference of the graph and PyTorch on a batch shaped unlike the traced
    one (three texts, one of a single word, padded): dynamic axes must not have been fixed."""
    texts = ["word", "a text of several words that is longer than the traced ones", "two words"]
    expected = TorchLabeller(classifier)(texts)
    return float(np.abs(OnnxLabeller(graph, classifier.tokenizer, classifier.max_length)(texts) - expected).max())


def quantize_int8(source: str | Path, path: str | Path) -> Path:
    """``source``'s graph with int8 weights (dynamic quantisation: activations quantised per batch);
    kept when it exists and is newer than ``source``."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    path = Path(path)
    if not path.is_file() or path.stat().st_mtime < Path(source).stat().st_mtime:
        root = logging.getLogger()
        level = root.level
        root.setLevel(logging.ERROR)  # its advice to pre-process the graph first, logged on every call
        try:
            with atomic_path(path) as temporary:
                quantize_dynamic(str(source), str(temporary), weight_type=QuantType.QInt8)
        finally:
            root.setLevel(level)
    return path


class OnnxLabeller:
    """Texts -> logits with ONNX Runtime on CPU, ``threads`` intra-op threads (None: its default)."""

    def __init__(self, path: str | Path, tokenizer: Any, max_length: int, threads: int | None = None) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        if threads:
            options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.names = [graph_input.name for graph_input in self.session.get_inputs()]
        self.tokenizer, self.max_length = tokenizer, max_length

    def __call__(self, texts: list[str]) -> np.ndarray:
        encoded = self.tokenizer(texts, truncation=True, max_length=self.max_length, padding=True, return_tensors="np")
        return self.session.run(["logits"], {name: encoded[name].astype(np.int64) for name in self.names})[0]


def seconds(labeller: Labeller, texts: list[str], repeats: int = 2) -> float:
    """The best of ``repeats`` timed passes over ``texts``, after one untimed warm-up pass."""
    labeller(texts)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        labeller(texts)
        best = min(best, time.perf_counter() - start)
    return best


def labeller(classifier: Classifier, backend: str, folder: str | Path, sample: list[str],
             threads: int | None = None, int8: bool = False) -> tuple[Labeller, str]:
    """The labeller for ``backend`` and the backend it is: ``auto`` is ONNX Runtime when the model
    is on CPU and ONNX Runtime labels ``sample`` faster, else PyTorch. ``int8`` (ONNX only)
    quantises the weights. The graphs are kept in ``folder`` (one labelling's shard folder)."""
    if backend not in BACKENDS:
        raise UserError(f"the labelling backend must be one of {list(BACKENDS)}, got {backend!r}")
    on_cpu = next(classifier.model.parameters()).device.type == "cpu"
    if (backend == "onnx" or int8) and not on_cpu:
        raise UserError("ONNX Runtime labels on CPU here: use backend=torch on a GPU (int8 needs ONNX)")
    if backend == "torch" and int8:
        raise UserError("int8 weights are an ONNX Runtime option: use backend=onnx or auto")
    if backend == "torch" or (backend == "auto" and not on_cpu):
        return TorchLabeller(classifier), "torch"
    graph = export_onnx(classifier, Path(folder) / "teacher.onnx")
    if int8:
        graph = quantize_int8(graph, Path(folder) / "teacher.int8.onnx")
    onnx = OnnxLabeller(graph, classifier.tokenizer, classifier.max_length, threads)
    if backend == "onnx" or int8:
        return onnx, "onnx"
    torch_labeller = TorchLabeller(classifier)
    faster = seconds(onnx, sample) <= seconds(torch_labeller, sample)
    return (onnx, "onnx") if faster else (torch_labeller, "torch")
