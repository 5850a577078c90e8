"""The BiLSTM student: WordPiece embeddings, a bidirectional LSTM, pooling, a small MLP."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from distill.loss import DistillationLoss
from distill.models.base import ClassifierModule
from distill.pretrained import input_embeddings


class BiLSTMNet(nn.Module):
    """Masked mean- and max-pooling over BiLSTM states, so padding never leaks in."""

    def __init__(
        self,
        vocab_size: int,
        num_classes: int,
        embedding_dim: int = 128,
        hidden_size: int = 256,
        num_layers: int = 1,
        head_size: int = 256,
        dropout: float = 0.2,
        padding_idx: int = 0,
    ) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=padding_idx)
        self.lstm = nn.LSTM(
            embedding_dim, hidden_size, num_layers=num_layers, batch_first=True, bidirectional=True,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.head = nn.Sequential(
            nn.Dropout(dropout),
            nn.Linear(4 * hidden_size, head_size),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(head_size, num_classes),
        )

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        lengths = attention_mask.sum(-1).clamp(min=1)
        packed = pack_padded_sequence(
            self.embedding(input_ids), lengths.cpu(), batch_first=True, enforce_sorted=False
        )
        states, _ = pad_packed_sequence(self.lstm(packed)[0], batch_first=True, total_length=input_ids.shape[1])
        mask = attention_mask.unsqueeze(-1).to(states.dtype)
        mean = (states * mask).sum(1) / lengths.unsqueeze(-1).to(states.dtype)
        maximum = states.masked_fill(mask == 0, torch.finfo(states.dtype).min).amax(1)
        return self.head(torch.cat([mean, maximum], dim=-1))


class BiLSTMModule(ClassifierModule):
    """BiLSTM student; ``embedding_init`` copies a pretrained BERT's word embeddings.

    With ``embedding_init`` set, ``embedding_dim`` is the teacher's width (384 for MiniLM-L6).
    """

    def __init__(
        self,
        num_classes: int,
        vocab_size: int,
        embedding_dim: int = 128,
        hidden_size: int = 256,
        num_layers: int = 1,
        head_size: int = 256,
        dropout: float = 0.2,
        padding_idx: int = 0,
        embedding_init: str | None = None,
        freeze_embedding: bool = False,
        lr: float = 2e-3,
        weight_decay: float = 0.01,
        warmup_ratio: float = 0.0,
        decay: bool = True,
        loss: DistillationLoss | None = None,
    ) -> None:
        super().__init__(num_classes, lr, weight_decay, warmup_ratio, decay, loss)
        pretrained = None
        if embedding_init is not None:
            pretrained = torch.from_numpy(input_embeddings(embedding_init).copy())
            if pretrained.shape[0] != vocab_size:
                raise ValueError(
                    f"model.module.embedding_init={embedding_init} has {pretrained.shape[0]} rows, "
                    f"the tokenizer has {vocab_size}: use the teacher's own tokenizer"
                )
            embedding_dim = pretrained.shape[1]
        self.net = BiLSTMNet(
            vocab_size, num_classes, embedding_dim, hidden_size, num_layers, head_size, dropout, padding_idx
        )
        if pretrained is not None:
            self.net.embedding.weight.data.copy_(pretrained)
        self.net.embedding.weight.requires_grad_(not freeze_embedding)
