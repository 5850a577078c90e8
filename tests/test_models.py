"""Network-level properties of the students."""

import torch

from distill.nets.bilstm import BiLSTMNet, reverse_padded
from distill.nets.bilstm_bag import BiLSTMBagNet
from distill.nets import BagLinearNet


def test_reverse_padded_reverses_within_each_length() -> None:
    x = torch.arange(8.0).view(2, 4, 1)
    out = reverse_padded(x, torch.tensor([4, 2])).squeeze(-1)
    assert out.tolist() == [[3.0, 2.0, 1.0, 0.0], [5.0, 4.0, 6.0, 7.0]]


def test_bilstm_ignores_padding() -> None:
    """A sequence gives the same logits alone and padded next to a longer one."""
    torch.manual_seed(0)
    net = BiLSTMNet(vocab_size=50, num_classes=3, embedding_dim=8, hidden_size=8, head_size=8).eval()
    short = torch.tensor([[5, 6, 7]])
    alone = net(short, torch.ones_like(short))
    batch = torch.tensor([[5, 6, 7, 0, 0, 0], [1, 2, 3, 4, 5, 6]])
    mask = torch.tensor([[1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 1, 1]])
    padded = net(batch, mask)
    torch.testing.assert_close(padded[0:1], alone, atol=1e-5, rtol=1e-5)
    garbage = batch.clone()
    garbage[0, 3:] = 9  # whatever sits under the mask must not matter
    torch.testing.assert_close(net(garbage, mask), padded, atol=1e-5, rtol=1e-5)


def test_sparse_linear_equals_dense_linear() -> None:
    torch.manual_seed(0)
    net = BagLinearNet(vocab_size=6, num_classes=2)
    torch.nn.init.normal_(net.weight.weight)
    dense = torch.tensor([[0.0, 0.5, 0.0, 0.0, 2.0, 0.0], [0.0] * 6])  # second document is empty
    logits = net(torch.tensor([1, 4]), torch.tensor([0, 2]), torch.tensor([0.5, 2.0]))
    torch.testing.assert_close(logits, dense @ net.weight.weight + net.bias)


def bag_net() -> BiLSTMBagNet:
    torch.manual_seed(0)
    net = BiLSTMBagNet(vocab_size=50, num_classes=3, buckets=16, embedding_dim=8, hidden_size=8, head_size=8).eval()
    torch.nn.init.normal_(net.unigrams.weight)
    torch.nn.init.normal_(net.bigrams.weight)
    return net


def test_bilstm_bag_adds_a_linear_bag_of_unigrams_and_bigrams_that_ignores_padding() -> None:
    net = bag_net()
    ids = torch.tensor([[5, 6, 7]])
    expected = (net.unigrams.weight[[5, 6, 7]].sum(0) + net.bigrams.weight[[(5 * 1_000_003 + 6) % 16,
                                                                          (6 * 1_000_003 + 7) % 16]].sum(0)) / 3**0.5
    torch.testing.assert_close(net.bag(ids, torch.ones_like(ids))[0], expected)
    torch.testing.assert_close(net(ids, torch.ones_like(ids)), net.bilstm(ids, torch.ones_like(ids)) + expected)
    padded, mask = torch.tensor([[5, 6, 7, 9, 9], [1, 2, 3, 4, 5]]), torch.tensor([[1, 1, 1, 0, 0], [1] * 5])
    torch.testing.assert_close(net(padded, mask)[0:1], net(ids, torch.ones_like(ids)), atol=1e-5, rtol=1e-5)


def test_bilstm_bag_bigrams_see_word_order_and_unigrams_do_not() -> None:
    net = bag_net()
    ab, ba = torch.tensor([[5, 6]]), torch.tensor([[6, 5]])
    ones = torch.ones_like(ab)
    torch.nn.init.zeros_(net.bigrams.weight)
    torch.testing.assert_close(net.bag(ab, ones), net.bag(ba, ones))
    torch.nn.init.normal_(net.bigrams.weight)
    assert not torch.allclose(net.bag(ab, ones), net.bag(ba, ones))
