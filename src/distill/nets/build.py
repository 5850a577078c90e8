"""Build a net from a plain spec, ``{"_target_": "module.Class", **arguments}``, without Hydra.

The spec is what a checkpoint stores, so ``ClassifierModule.load_from_checkpoint(path)``, and
``distill.nets.checkpoint.load_net(path)`` without Lightning, rebuild the same net from the checkpoint alone.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Mapping
from typing import Any

from torch import nn

from distill.errors import UserError


def resolve(target: str) -> type:
    """The class named by a dotted path such as ``distill.nets.BiLSTMNet``."""
    module_name, _, name = target.rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError, ValueError):
        raise UserError(f"model.module.net._target_={target} is not an importable class; "
                        "give its full dotted path (e.g. distill.nets.BiLSTMNet)") from None


def build_net(spec: Mapping[str, Any], **from_data: Any) -> nn.Module:
    """``spec``'s class built with its arguments, plus those of ``from_data`` it accepts.

    ``from_data`` holds what only the data knows (``num_classes``, ``vocab_size``): a net
    that does not take ``vocab_size`` (a pretrained transformer) is simply not given it.
    """
    if "_target_" not in spec:
        raise UserError(f"model.module.net needs a _target_ (the net's class), got keys {sorted(spec)}")
    arguments = {key: value for key, value in spec.items() if key != "_target_"}
    cls = resolve(spec["_target_"])
    accepted = inspect.signature(cls).parameters
    arguments |= {key: value for key, value in from_data.items() if key in accepted and key not in arguments}
    return cls(**arguments)
