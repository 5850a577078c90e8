"""What a trained model costs to ship: parameters and bytes of weights."""

from __future__ import annotations

from torch import nn


def weights_size(model: nn.Module) -> dict[str, float]:
    """Parameter count and float weight size in MB (buffers included, optimiser state not)."""
    params = sum(parameter.numel() for parameter in model.parameters())
    size = sum(tensor.numel() * tensor.element_size() for tensor in model.state_dict().values())
    return {"params": float(params), "weights_mb": size / 2**20}
