"""The logistic student started from Complement Naive Bayes (``model.module.init=naive_bayes``)."""

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from sklearn.naive_bayes import ComplementNB

from conftest import make_cfg
from distill.cli.config import load_splits
from distill.cli.runners import run
from distill.errors import UserError
from distill.features import TfidfFeatures
from distill.logit_store import LogitStore
from distill.loss import DistillationLoss
from distill.module import ClassifierModule
from distill.naive_bayes_start import NaiveBayesStart, start_of
from distill.nets import BagLinearNet, BiLSTMBagNet
from distill.nets.bilstm_bag import BIGRAM_PRIME

LINEAR = {"_target_": "distill.nets.BagLinearNet"}


def bags(matrix: np.ndarray) -> dict[str, torch.Tensor]:
    """A dense (documents, features) matrix as BagLinearNet's inputs."""
    rows = [np.flatnonzero(row) for row in matrix]
    return {
        "indices": torch.from_numpy(np.concatenate(rows)),
        "offsets": torch.tensor(np.cumsum([0] + [len(row) for row in rows[:-1]])),
        "weights": torch.from_numpy(np.concatenate([matrix[i, row] for i, row in enumerate(rows)])).float(),
    }


def sparse_corpus(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    matrix = rng.random((60, 25)) * (rng.random((60, 25)) < 0.3)
    labels = rng.integers(0, 4, 60)
    labels[:10] = -1  # transfer rows: no label, so no part of Naive Bayes' counts
    matrix[:10] *= 50.0
    return matrix, labels


def test_init_equals_scikit_learns_complement_naive_bayes_on_the_labelled_rows() -> None:
    matrix, labels = sparse_corpus()
    net = BagLinearNet(vocab_size=25, num_classes=4)
    net.init_complement_naive_bayes([(bags(matrix[:30]), torch.tensor(labels[:30])),
                                     (bags(matrix[30:]), torch.tensor(labels[30:]))], smoothing=0.5)
    reference = ComplementNB(alpha=0.5).fit(matrix[10:], labels[10:])
    logits = net(**bags(matrix)).detach().double().numpy()
    shift = logits - matrix @ reference.feature_log_prob_.T  # the same up to one constant per row
    np.testing.assert_allclose(shift - shift.mean(1, keepdims=True), 0.0, atol=1e-5)
    assert (logits.argmax(1) == reference.predict(matrix)).all()
    assert torch.count_nonzero(net.bias) == 0


def test_the_bilstm_bag_path_starts_from_naive_bayes_over_its_own_unigrams_and_bigrams() -> None:
    rng = np.random.default_rng(2)
    vocab, buckets = 12, 8
    ids = torch.from_numpy(rng.integers(1, vocab, (40, 6)))
    lengths = rng.integers(2, 7, 40)
    mask = torch.from_numpy((np.arange(6) < lengths[:, None]).astype(np.int64))
    labels = rng.integers(0, 3, 40)
    labels[:8] = -1
    features = np.zeros((40, vocab + buckets))  # the bag's features, written out densely
    for row in range(40):
        tokens = ids[row, :lengths[row]].tolist()
        for token in tokens:
            features[row, token] += 1 / np.sqrt(lengths[row])
        for first, second in zip(tokens, tokens[1:]):
            features[row, vocab + (first * BIGRAM_PRIME + second) % buckets] += 1 / np.sqrt(lengths[row])
    net = BiLSTMBagNet(vocab, 3, buckets=buckets, embedding_dim=4, hidden_size=4, head_size=4)
    before = [parameter.clone() for parameter in net.bilstm.parameters()]
    net.init_complement_naive_bayes([({"input_ids": ids, "attention_mask": mask}, torch.tensor(labels))], 0.5)
    reference = ComplementNB(alpha=0.5).fit(features[8:], labels[8:])
    shift = net.bag(ids, mask).detach().double().numpy() - features @ reference.feature_log_prob_.T
    np.testing.assert_allclose(shift - shift.mean(1, keepdims=True), 0.0, atol=1e-5)
    assert all(torch.equal(old, new) for old, new in zip(before, net.bilstm.parameters()))


def test_the_start_is_rescaled_to_the_minimum_of_the_students_own_loss() -> None:
    matrix, labels = sparse_corpus(1)
    batch = {"inputs": bags(matrix), "labels": torch.tensor(labels)}
    module = ClassifierModule(LINEAR, num_classes=4, vocab_size=25, loss=DistillationLoss(alpha=0.0))
    factor = NaiveBayesStart(1.0).start(module, [batch])
    logits = module.net(**batch["inputs"]).detach()

    def loss(scale: float) -> float:
        return float(module.loss_fn(logits * scale, batch["labels"]))

    assert factor != pytest.approx(1.0, abs=0.05)
    assert loss(1.0) < loss(1.1) and loss(1.0) < loss(0.9)


def test_a_bag_bilstm_rescales_its_bag_path_alone_to_the_minimum_of_the_soft_loss() -> None:
    torch.manual_seed(0)
    ids = torch.randint(1, 12, (30, 5))
    mask = torch.ones_like(ids)
    batch = {"inputs": {"input_ids": ids, "attention_mask": mask}, "labels": torch.randint(0, 3, (30,)),
             "teacher_logits": torch.randn(30, 3) * 3}
    spec = {"_target_": "distill.nets.BiLSTMBagNet", "buckets": 8, "embedding_dim": 4, "hidden_size": 4,
            "head_size": 4}
    module = ClassifierModule(spec, num_classes=3, vocab_size=12, loss=DistillationLoss(alpha=0.7, temperature=2.0))
    module.eval()  # no dropout: the BiLSTM's logits before and after must be comparable
    bilstm = module.net.bilstm(ids, mask).detach()
    NaiveBayesStart(1.0).start(module, [batch])
    bag = module.net.bag(ids, mask).detach()

    def loss(scale: float) -> float:
        return float(module.loss_fn(bag * scale, batch["labels"], batch["teacher_logits"]))

    assert loss(1.0) < loss(1.1) and loss(1.0) < loss(0.9)
    torch.testing.assert_close(module.net(ids, mask).detach(), bilstm + bag)  # the BiLSTM's path untouched


def test_naive_bayes_needs_a_linear_net_and_init_a_known_name() -> None:
    bilstm = {"_target_": "distill.nets.BiLSTMNet", "embedding_dim": 4, "hidden_size": 4, "head_size": 4}
    module = ClassifierModule(bilstm, num_classes=3, vocab_size=10)
    with pytest.raises(UserError, match="needs a net with a linear bag path"):
        start_of("naive_bayes", 1.0).setup(SimpleNamespace(datamodule=None), module, "fit")
    assert isinstance(start_of("naive_bayes", 0.5), NaiveBayesStart) and start_of("default", 1.0) is None
    with pytest.raises(UserError, match="model.module.init must be one of"):
        start_of("xavier", 1.0)
    for smoothing in (0.0, float("nan")):
        with pytest.raises(UserError, match="model.module.init_smoothing"):
            start_of("naive_bayes", smoothing)


def test_a_run_of_model_logistic_nb_starts_from_naive_bayes(tmp_path: Path, corpus_archive: Path) -> None:
    """With a learning rate too small to move it, the trained student predicts what Naive Bayes does."""
    cfg = make_cfg(tmp_path, corpus_archive, ["model=logistic_nb", "distill=none", "model.module.lr=1e-12",
                                              "model.module.init_smoothing=0.3"])
    run(cfg)
    splits = load_splits(cfg)
    features = TfidfFeatures(**{key: value for key, value in cfg.model.features.items() if key != "_target_"})
    features.fit(splits["train"].texts)
    reference = ComplementNB(alpha=0.3).fit(features.vectorizer.transform(splits["train"].texts),
                                            splits["train"].labels)
    store = LogitStore.load(Path(cfg.paths.output_dir) / "logits.npz")
    test = splits["test"]
    predicted = store.aligned("test", test.ids).argmax(1)
    expected = reference.predict(features.vectorizer.transform(test.texts))
    assert len(set(expected)) > 1
    assert (predicted == expected).all()
