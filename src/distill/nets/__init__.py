"""Plain ``nn.Module`` networks: logits from model inputs, no Lightning, no training logic.

A net's constructor takes ``num_classes`` and, when its input is a vocabulary, ``vocab_size``;
``ClassifierModule`` passes them from the data. Add a network by writing one here (or
anywhere importable) and naming it in a model yaml as ``module.net._target_``.
"""

from distill.nets.bag_linear import BagLinearNet
from distill.nets.bilstm import BiLSTMNet
from distill.nets.bilstm_bag import BiLSTMBagNet
from distill.nets.build import build_net
from distill.nets.transformer import TransformerNet

__all__ = ["BagLinearNet", "BiLSTMBagNet", "BiLSTMNet", "TransformerNet", "build_net"]
