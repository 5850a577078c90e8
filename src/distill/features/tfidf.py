"""TF-IDF features for the logistic student, fitted on the train split only and kept sparse."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.feature_extraction.text import TfidfVectorizer


class TfidfFeatures:
    """Each document becomes (feature indices, TF-IDF weights): an EmbeddingBag bag."""

    def __init__(
        self,
        max_features: int | None = 100_000,
        ngram_range: tuple[int, int] = (1, 2),
        min_df: int | float = 2,
        max_df: int | float = 0.5,
        sublinear_tf: bool = True,
    ) -> None:
        self.vectorizer = TfidfVectorizer(
            max_features=max_features,
            ngram_range=tuple(ngram_range),
            min_df=min_df,
            max_df=max_df,
            sublinear_tf=sublinear_tf,
            dtype=np.float32,
        )

    @property
    def vocab_size(self) -> int:
        if not hasattr(self.vectorizer, "vocabulary_"):
            raise RuntimeError("TfidfFeatures.fit must run on the train split before vocab_size")
        return len(self.vectorizer.vocabulary_)

    def fit(self, texts: list[str]) -> None:
        self.vectorizer.fit(texts)

    def encode(self, texts: list[str]) -> list[tuple[np.ndarray, np.ndarray]]:
        matrix = self.vectorizer.transform(texts).tocsr()
        return [
            (matrix.indices[start:end].astype(np.int64), matrix.data[start:end])
            for start, end in zip(matrix.indptr[:-1], matrix.indptr[1:])
        ]

    def length(self, row: tuple[np.ndarray, np.ndarray]) -> int:
        return len(row[0])

    def collate(self, rows: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, torch.Tensor]:
        lengths = torch.tensor([len(indices) for indices, _ in rows], dtype=torch.long)
        offsets = torch.zeros(len(rows), dtype=torch.long)
        offsets[1:] = torch.cumsum(lengths, 0)[:-1]
        return {
            "indices": torch.from_numpy(np.concatenate([indices for indices, _ in rows])),
            "offsets": offsets,
            "weights": torch.from_numpy(np.concatenate([weights for _, weights in rows])),
        }
