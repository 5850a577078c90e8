"""Labelling backends: PyTorch and ONNX Runtime agree on a tiny random classifier; int8 is measured."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hf_models import documents, load_classifier, save_tiny_classifier
from distill.errors import UserError
from distill.labelling_backends import OnnxLabeller, TorchLabeller, export_onnx, labeller, quantize_int8

TEXTS = documents(40, seed=1)


@pytest.fixture(scope="module")
def classifier(tmp_path_factory: pytest.TempPathFactory):
    return load_classifier(save_tiny_classifier(tmp_path_factory.mktemp("tiny")))


@pytest.fixture(scope="module")
def graph(classifier, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_onnx(classifier, tmp_path_factory.mktemp("onnx") / "teacher.onnx")


def test_onnx_runtime_gives_pytorchs_logits_at_every_batch_and_length(classifier, graph: Path) -> None:
    torch_logits = TorchLabeller(classifier)(TEXTS)
    onnx = OnnxLabeller(graph, classifier.tokenizer, classifier.max_length, threads=1)
    assert np.abs(onnx(TEXTS) - torch_logits).max() < 1e-4
    for one in (TEXTS[3], "orbit", "zebra " * 50):  # batch of 1; one word; truncated at max_length
        assert np.abs(onnx([one]) - TorchLabeller(classifier)([one])).max() < 1e-4
    assert torch_logits.shape == (40, 3) and np.unique(torch_logits.argmax(1)).size > 1


def test_int8_weights_agree_with_float32_on_most_documents(classifier, graph: Path) -> None:
    int8 = OnnxLabeller(quantize_int8(graph, graph.with_name("teacher.int8.onnx")), classifier.tokenizer, 32)
    full = OnnxLabeller(graph, classifier.tokenizer, 32)(TEXTS)
    quantised = int8(TEXTS)
    assert 0 < np.abs(quantised - full).max() < 0.5  # quantised, yet close
    assert (quantised.argmax(1) == full.argmax(1)).mean() >= 0.9


def test_backends_are_chosen_as_asked(classifier, graph: Path) -> None:
    folder = graph.parent
    chosen, name = labeller(classifier, "torch", folder, TEXTS[:8])
    assert name == "torch" and isinstance(chosen, TorchLabeller)
    chosen, name = labeller(classifier, "onnx", folder, TEXTS[:8], threads=1)
    assert name == "onnx" and isinstance(chosen, OnnxLabeller)
    chosen, name = labeller(classifier, "auto", folder, TEXTS[:8], threads=1)  # the faster of the two here
    assert name in ("onnx", "torch") and np.abs(chosen(TEXTS) - TorchLabeller(classifier)(TEXTS)).max() < 1e-4
    with pytest.raises(UserError, match="backend must be one of"):
        labeller(classifier, "tensorrt", folder, TEXTS[:8])
    with pytest.raises(UserError, match="int8 weights are an ONNX Runtime option"):
        labeller(classifier, "torch", folder, TEXTS[:8], int8=True)


def test_an_export_that_disagrees_with_pytorch_is_refused(classifier, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr("distill.labelling_backends.verify", lambda classifier, graph: 0.5)
    with pytest.raises(RuntimeError, match="differ by 5.00e-01"):
        export_onnx(classifier, tmp_path / "teacher.onnx")
    assert not list(tmp_path.iterdir())  # nothing half-written is left behind


def test_a_graph_of_another_model_is_exported_again(classifier, graph: Path, tmp_path: Path) -> None:
    other = load_classifier(save_tiny_classifier(tmp_path / "other", seed=1))
    stale = tmp_path / "teacher.onnx"
    stale.write_bytes(graph.read_bytes())  # the first model's graph where the second labels
    onnx = OnnxLabeller(export_onnx(other, stale), other.tokenizer, 32)
    assert np.abs(onnx(TEXTS) - TorchLabeller(other)(TEXTS)).max() < 1e-4
