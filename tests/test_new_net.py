"""Adding a network is one module and one yaml: this test defines both, and nothing else changes.

The toy net below, and its model yaml written into a config folder on Hydra's search path,
train (fast_dev_run, then one epoch that stores its logits), export to ONNX with the logits
of PyTorch, and load through ``distill.serving`` from raw text.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

from conftest import make_cfg
from distill.cli.runners import run
from distill.export import export_run
from distill.logit_store import LogitStore
from distill.serving import load

TOY_YAML = """\
# python train.py model=toy   (a test's own net: mean of word embeddings, then a linear layer)
name: toy
role: student
batch_size: 8
eval_batch_size: 16
max_epochs: 1
features:
  _target_: distill.features.WordPieceFeatures
  tokenizer: ${teacher.pretrained}
  max_length: ${teacher.max_length}
module:
  _target_: distill.module.ClassifierModule
  lr: 5.0e-2
  net:
    _target_: test_new_net.MeanEmbeddingNet
    dim: 8
"""


class MeanEmbeddingNet(nn.Module):
    """Masked mean of token embeddings, then a linear layer: fastText's shape."""

    def __init__(self, vocab_size: int, num_classes: int, dim: int = 8) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, dim)
        self.out = nn.Linear(dim, num_classes)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        mask = attention_mask.unsqueeze(-1).float()
        mean = (self.embedding(input_ids) * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        return self.out(mean)


RAW_MESSAGE = ("From: someone@example.com\nSubject: launch\nOrganization: Test\n\n"
               "the rocket reached orbit after launch\n\n-- \nA Signature, Example Corp\n")


def test_a_new_net_trains_stores_exports_and_serves(tmp_path: Path, corpus_archive: Path) -> None:
    configs = tmp_path / "conf"
    (configs / "model").mkdir(parents=True)
    (configs / "model" / "toy.yaml").write_text(TOY_YAML)
    overrides = [f"hydra.searchpath=[file://{configs}]", "model=toy", "distill=none"]

    smoke = run(make_cfg(tmp_path / "smoke", corpus_archive, [*overrides, "++trainer.fast_dev_run=true"]))
    assert np.isfinite(smoke["test/loss"])

    cfg = make_cfg(tmp_path / "trained", corpus_archive, [*overrides, "trainer.max_epochs=3"])
    metrics = run(cfg)
    run_dir = Path(cfg.paths.output_dir)
    store = LogitStore.load(run_dir / "logits.npz")
    assert (store.source["kind"], store.source["model"]) == ("student", "toy")
    assert metrics["test/acc"] > 0.6  # three separable synthetic classes

    folder = export_run(run_dir)[0]
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["net"] == "MeanEmbeddingNet" and manifest["max_abs_difference"] < 1e-4

    eager, onnx = load(run_dir), load(folder)
    assert (eager.runtime, onnx.runtime) == ("pytorch", "onnxruntime")
    np.testing.assert_allclose(onnx.predict_proba([RAW_MESSAGE]), eager.predict_proba([RAW_MESSAGE]), atol=1e-5)
    # The raw message is cleaned as in training: the header and signature do not reach the net.
    cleaned = "the rocket reached orbit after launch"
    np.testing.assert_allclose(eager.predict_proba([RAW_MESSAGE]), eager.predict_proba([cleaned]), atol=1e-6)
    assert not np.allclose(eager.predict_proba([RAW_MESSAGE]), eager.predict_proba(["From Subject Organization"]))
