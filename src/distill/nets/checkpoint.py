"""A trained net from its Lightning checkpoint, for inference, without importing Lightning.

A checkpoint holds the net's spec in its hyper-parameters and the net's weights under ``net.``
(``distill.module.ClassifierModule`` saves both), so a plain ``torch.load`` rebuilds it. Export,
serving and labelling load nets this way: importing Lightning costs a process several seconds.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import torch
from torch import nn

from distill.errors import UserError
from distill.nets.build import build_net

PREFIX = "net."


def load_net(checkpoint: str | Path) -> nn.Module:
    """The checkpoint's net, float32, in eval mode, on the CPU; every weight must match the spec's net."""
    try:
        saved = torch.load(checkpoint, map_location="cpu", weights_only=True)
        hyper, state = saved["hyper_parameters"], saved["state_dict"]
        spec, num_classes = hyper["net"], hyper["num_classes"]
    except (OSError, RuntimeError, EOFError, KeyError, TypeError, pickle.UnpicklingError) as error:
        raise UserError(f"{checkpoint} is not a checkpoint of distill's ClassifierModule ({type(error).__name__}): "
                        "re-train its stage") from None
    net = build_net(spec, num_classes=num_classes, vocab_size=hyper.get("vocab_size"))
    net.load_state_dict({key.removeprefix(PREFIX): value for key, value in state.items() if key.startswith(PREFIX)})
    return net.float().eval()
