"""A trained net from its Lightning checkpoint, for inference, without importing Lightning.

A checkpoint holds the net's spec in its hyper-parameters and the net's weights under ``net.``
(``distill.module.ClassifierModule`` saves both), so a plain ``torch.load`` rebuilds it. Export,
serving and labelling load nets this way: importing Lightning costs a process several seconds.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from distill.errors import UserError
from distill.nets.build import build_net

PREFIX = "net."


def load_net(checkpoint: str | Path) -> nn.Module:
    """The checkpoint's net, float32, in eval mode, on the CPU; every weight must match the spec's net."""
    saved = torch.load(checkpoint, map_location="cpu", weights_only=True)
    if "hyper_parameters" not in saved or "net" not in saved["hyper_parameters"]:
        raise UserError(f"{checkpoint} holds no net spec: it was not saved by distill's ClassifierModule; "
                        "re-train the stage")
    hyper = saved["hyper_parameters"]
    net = build_net(hyper["net"], num_classes=hyper["num_classes"], vocab_size=hyper.get("vocab_size"))
    net.load_state_dict({key.removeprefix(PREFIX): value for key, value in saved["state_dict"].items()
                         if key.startswith(PREFIX)})
    return net.float().eval()
