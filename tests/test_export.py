"""ONNX export: tiny trained models give the same logits through onnxruntime as through PyTorch."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from omegaconf import open_dict

from conftest import GROUPS, make_cfg
from distill.cli.config import data_module
from distill.cli.runners import run
from distill.export import export_onnx, export_run, export_stage, verify
from distill.features import TfidfFeatures
from distill.logit_store import file_sha256
from distill.module import ClassifierModule
from distill.run_folder import is_current
from distill.serving import Preprocessing, from_checkpoint, from_onnx
from distill.preprocessing import TfidfTransform

STAGES = {
    "teacher": ["model=teacher_minilm", "model.module.lr=5e-3", "model.batch_size=8"],
    "logistic": ["model=logistic", "distill=none"],
    "bilstm": ["model=bilstm", "distill=none", "model.module.net.embedding_init=null", "+model.module.net.embedding_dim=16",
               "model.module.net.hidden_size=16", "model.module.net.head_size=16"],
    "bilstm_bag": ["model=bilstm_bag", "distill=none", "model.module.net.embedding_init=null",
                   "+model.module.net.embedding_dim=16", "model.module.net.hidden_size=16",
                   "model.module.net.head_size=16", "model.module.net.buckets=64"],
}
LONG = " ".join(["orbit rocket launch nasa shuttle moon"] * 20)  # ~120 words > teacher.max_length=32
TEXTS = ["", "engine", "Pixel RENDER, shader!", "orbit rocket engine brake caf\xe9 na\xefve zzz", LONG,
         "render " * 3 + "texture image polygon"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory, corpus_archive: Path):
    """A pipeline-shaped run (one folder per stage), trained for two epochs, then exported."""
    root = tmp_path_factory.mktemp("export")
    configs = {}
    for stage, overrides in STAGES.items():
        cfg = make_cfg(root / "scratch" / stage, corpus_archive, [*overrides, "trainer.max_epochs=2"])
        with open_dict(cfg):
            cfg.paths.output_dir = str(root / "run" / stage)
        run(cfg)
        configs[stage] = cfg
    export_run(root / "run")
    return root / "run", configs


def checkpoint_of(stage: Path) -> Path:
    return stage / json.loads((stage / "metrics.json").read_text())["checkpoint"]["path"]


def torch_logits(stage: Path, cfg, texts: list[str]) -> np.ndarray:
    """The trained module's logits from the training features, refitted on the same train split."""
    module = ClassifierModule.load_from_checkpoint(checkpoint_of(stage)).eval()
    datamodule = data_module(cfg, features=instantiate(cfg.model.features))
    datamodule.setup("fit")
    features = datamodule.features
    with torch.no_grad():
        return module(**features.collate(features.encode(texts))).numpy()


def onnx_session(path: Path):
    import onnxruntime

    return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def onnx_logits(folder: Path, texts: list[str], batch_size: int) -> np.ndarray:
    session = onnx_session(folder / "model.onnx")
    preprocessing = Preprocessing(folder)
    return np.concatenate([session.run(["logits"], preprocessing.transform(texts[i : i + batch_size]))[0]
                           for i in range(0, len(texts), batch_size)])


@pytest.mark.parametrize("stage", list(STAGES))
def test_onnx_logits_match_pytorch(exported, stage: str) -> None:
    run_dir, configs = exported
    expected = torch_logits(run_dir / stage, configs[stage], TEXTS)
    actual = onnx_logits(run_dir / "export" / stage, TEXTS, batch_size=4)  # two batches of different widths
    assert actual.shape == (len(TEXTS), 3) and actual.dtype == np.float32
    assert np.abs(actual - expected).max() < 1e-4
    assert np.abs(expected[1:] - expected[1]).max() > 1e-3, "trained logits should depend on the text"
    onnx, eager = from_onnx(run_dir / "export" / stage), from_checkpoint(run_dir / stage)
    np.testing.assert_allclose(onnx.predict_proba(TEXTS), eager.predict_proba(TEXTS), atol=1e-5)
    np.testing.assert_allclose(onnx.predict_proba(TEXTS).sum(axis=1), 1.0, rtol=1e-6)
    assert onnx.predict(TEXTS[1:4]) == [onnx.labels[i] for i in expected[1:4].argmax(axis=1)]


def test_the_bilstm_bag_path_exports_exactly_with_weights_far_from_zero(exported, tmp_path: Path) -> None:
    """Two epochs leave the bag tables near their zero start: fill them so a wrong hash or mask shows."""
    run_dir, _ = exported
    net = ClassifierModule.load_from_checkpoint(checkpoint_of(run_dir / "bilstm_bag")).net.eval()
    torch.manual_seed(0)
    torch.nn.init.normal_(net.unigrams.weight)
    torch.nn.init.normal_(net.bigrams.weight)
    preprocessing = Preprocessing(run_dir / "export" / "bilstm_bag")
    export_onnx(net, preprocessing, tmp_path / "model.onnx")
    inputs = preprocessing(TEXTS)  # real texts, in a batch shaped unlike the traced one
    with torch.no_grad():
        expected = net(**{name: torch.from_numpy(array) for name, array in inputs.items()}).numpy()
    np.testing.assert_allclose(onnx_session(tmp_path / "model.onnx").run(["logits"], inputs)[0], expected, atol=1e-4)
    short = torch.tensor([[2, 7, 9]])
    assert net.bag(short, torch.ones_like(short)).abs().max() > 0.1  # the path carries weight in this check
    torch.nn.init.normal_(net.bigrams.weight)  # the graph no longer computes this net: the check must say so
    with pytest.raises(RuntimeError, match="ONNX and PyTorch logits differ"):
        verify(net, preprocessing, tmp_path / "model.onnx")


def test_manifest_names_labels_inputs_and_versions(exported) -> None:
    run_dir, configs = exported
    manifest = json.loads((run_dir / "export" / "bilstm" / "manifest.json").read_text())
    assert manifest["labels"] == sorted(GROUPS) and manifest["max_length"] == configs["bilstm"].teacher.max_length
    assert manifest["inputs"]["input_ids"] == {"dtype": "int64", "shape": ["batch", "sequence"]}
    assert manifest["opset"] >= 17 and manifest["versions"]["torch"] == torch.__version__
    logistic = json.loads((run_dir / "export" / "logistic" / "manifest.json").read_text())
    assert list(logistic["inputs"]) == ["indices", "offsets", "weights"] and logistic["max_length"] is None


def test_an_export_goes_stale_when_its_stage_is_re_trained(exported, tmp_path: Path) -> None:
    """A stage re-run in its folder after an export: the old graph must not pass for the new model."""
    run_dir, _ = exported
    stage, out = tmp_path / "bilstm", tmp_path / "export"
    shutil.copytree(run_dir / "bilstm", stage)
    shutil.copytree(run_dir / "export" / "bilstm", out)
    checkpoint = checkpoint_of(stage)  # relative to the stage: the copy points at its own checkpoint
    assert is_current(stage, out)
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    state["state_dict"]["net.head.4.bias"] += 1.0  # as if training had ended elsewhere
    torch.save(state, checkpoint)
    record = json.loads((stage / "metrics.json").read_text())
    record["checkpoint"]["sha256"] = file_sha256(checkpoint)  # what the re-run would record
    (stage / "metrics.json").write_text(json.dumps(record))
    assert not is_current(stage, out)
    export_stage(stage, out)
    assert is_current(stage, out)


def test_numpy_tfidf_equals_scikit_learn(tmp_path: Path) -> None:
    train = [f"{words} {words.split()[0]}" for words in GROUPS.values()] + ["Orbit, ORBIT orbit! launch_pad x y"]
    features = TfidfFeatures(max_features=None, ngram_range=(1, 3), min_df=1, max_df=1.0)
    features.fit(train)
    features.save(tmp_path, sorted(GROUPS), {})
    transform = TfidfTransform(json.loads((tmp_path / "features.json").read_text()))
    texts = [*TEXTS, *train, "orbit orbit orbit rocket launch_pad", "\u00c9ngine wheel\tbrake\nbrake"]
    inputs = transform(texts)
    dense = np.zeros((len(texts), features.vocab_size), dtype=np.float32)
    bags = np.repeat(np.arange(len(texts)), np.diff([*inputs["offsets"], len(inputs["indices"])]))
    np.add.at(dense, (bags, inputs["indices"]), inputs["weights"])
    expected = features.vectorizer.transform(texts).toarray()
    assert inputs["weights"].dtype == np.float32 and expected.any(axis=1).sum() >= len(train)
    np.testing.assert_allclose(dense, expected, rtol=1e-6, atol=1e-7)


def test_onnx_serving_imports_neither_torch_nor_scikit_learn(exported) -> None:
    run_dir, _ = exported
    code = (f"import sys; from distill.serving import load; load({str(run_dir / 'export' / 'logistic')!r}); "
            "print(sorted({'torch', 'sklearn', 'transformers', 'lightning'} & set(sys.modules)))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_a_student_is_served_and_exported_without_lightning_or_transformers(exported, tmp_path: Path) -> None:
    """``distill.nets.checkpoint.load_net`` reads a checkpoint with torch alone: importing Lightning, or
    transformers for a net that is not a transformer, costs a process seconds."""
    run_dir, _ = exported
    code = ("import sys; from pathlib import Path; from distill.export import export_stage; "
            f"from distill.serving import from_checkpoint; stage = Path({str(run_dir / 'bilstm')!r}); "
            f"from_checkpoint(stage); export_stage(stage, Path({str(tmp_path / 'bilstm')!r})); "
            "print(sorted({'lightning', 'pytorch_lightning', 'transformers'} & set(sys.modules)))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"  # nor transformers, which only a transformer net needs
    assert (tmp_path / "bilstm" / "manifest.json").is_file()


@pytest.mark.parametrize("content", [b"not a checkpoint", None])
def test_a_file_that_is_not_a_checkpoint_is_refused_with_the_fix(content: bytes | None, tmp_path: Path) -> None:
    from distill.errors import UserError
    from distill.nets.checkpoint import load_net

    path = tmp_path / "epoch00.ckpt"
    if content is None:
        torch.save({"state_dict": {}}, path)  # a torch file, but no net spec
    else:
        path.write_bytes(content)
    with pytest.raises(UserError, match="is not a checkpoint of distill's ClassifierModule .*re-train its stage"):
        load_net(path)
