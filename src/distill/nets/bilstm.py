"""The BiLSTM student: subword embeddings, a bidirectional LSTM, pooling, a small MLP."""

from __future__ import annotations

import torch
from torch import nn

from distill.errors import UserError
from distill.pretrained import input_embeddings


def reverse_padded(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each (B, L, D) sequence within its length; padding stays at the end."""
    positions = torch.arange(x.shape[1], device=x.device).expand(x.shape[0], -1)
    source = lengths.unsqueeze(1) - 1 - positions
    source = torch.where(source >= 0, source, positions)
    return x.gather(1, source.unsqueeze(-1).expand_as(x))


class BiLSTMNet(nn.Module):
    """A bidirectional LSTM with masked mean- and max-pooling, so padding never leaks in.

    The two directions are separate LSTMs, the backward one reading each sequence reversed
    within its own length: padding sits after the real tokens for both, so no state at a
    real position has seen a pad. On CPU this is several times faster than packed sequences.

    ``embedding_init`` copies a pretrained model's input embeddings (only that tensor is read,
    whatever the architecture calls it); ``embedding_dim`` is then the teacher's width (384 for
    MiniLM-L6). Rows past the tokenizer's vocabulary (a vocabulary padded to a round size) are
    dropped. No row is reserved for padding (``padding_idx=None``): padded positions are masked
    out of the pooling, and row 0 is a real token in some vocabularies (RoBERTa's ``<s>``).
    """

    # torch.export unrolls nn.LSTM over the traced length, so its graph is silently wrong for
    # any other length; the TorchScript exporter emits ONNX LSTM nodes, which take any length.
    onnx_exporter = "torchscript"

    def __init__(
        self,
        vocab_size: int,
        num_classes: int,
        embedding_dim: int = 128,
        hidden_size: int = 256,
        num_layers: int = 1,
        head_size: int = 256,
        dropout: float = 0.2,
        padding_idx: int | None = None,
        embedding_init: str | None = None,
        freeze_embedding: bool = False,
    ) -> None:
        super().__init__()
        pretrained = None
        if embedding_init is not None:
            pretrained = torch.from_numpy(input_embeddings(embedding_init).copy())
            if pretrained.shape[0] < vocab_size:
                raise UserError(
                    f"model.module.net.embedding_init={embedding_init} has {pretrained.shape[0]} rows, "
                    f"the tokenizer has {vocab_size}: use the teacher's own tokenizer"
                )
            pretrained = pretrained[:vocab_size]
            embedding_dim = pretrained.shape[1]
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=padding_idx)
        self.forward_lstm, self.backward_lstm = (
            nn.LSTM(embedding_dim, hidden_size, num_layers=num_layers, batch_first=True,
                    dropout=dropout if num_layers > 1 else 0.0)
            for _ in range(2)
        )
        self.head = nn.Sequential(
            nn.Dropout(dropout),
            nn.Linear(4 * hidden_size, head_size),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(head_size, num_classes),
        )
        if pretrained is not None:
            self.embedding.weight.data.copy_(pretrained)
        self.embedding.weight.requires_grad_(not freeze_embedding)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        lengths = attention_mask.sum(-1).clamp(min=1)
        embedded = self.embedding(input_ids)
        forward_states = self.forward_lstm(embedded)[0]
        backward_states = reverse_padded(self.backward_lstm(reverse_padded(embedded, lengths))[0], lengths)
        states = torch.cat([forward_states, backward_states], dim=-1)
        mask = attention_mask.unsqueeze(-1).to(states.dtype)
        mean = (states * mask).sum(1) / lengths.unsqueeze(-1).to(states.dtype)
        maximum = states.masked_fill(mask == 0, torch.finfo(states.dtype).min).amax(1)
        return self.head(torch.cat([mean, maximum], dim=-1))
