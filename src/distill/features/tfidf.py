"""TF-IDF features for the logistic student, fitted on the train split only and kept sparse."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import torch
from sklearn.feature_extraction.text import TfidfVectorizer

from distill.atomic import write_text


def tfidf_vectorizer(
    max_features: int | None = 100_000,
    ngram_range: tuple[int, int] = (1, 2),
    min_df: int | float = 2,
    max_df: int | float = 0.5,
    sublinear_tf: bool = True,
) -> TfidfVectorizer:
    """The one TF-IDF setting shared by the logistic student and the classic baselines."""
    return TfidfVectorizer(
        max_features=max_features,
        ngram_range=tuple(ngram_range),
        min_df=min_df,
        max_df=max_df,
        sublinear_tf=sublinear_tf,
        dtype=np.float32,
    )


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
        self.vectorizer = tfidf_vectorizer(max_features, ngram_range, min_df, max_df, sublinear_tf)

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

    def spec(self, label_names: list[str], cleaning: dict[str, list[str]]) -> dict:
        """What ``distill.serving`` needs to redo this transform in numpy.

        The vectorizer's other settings (word analyzer, no accent stripping or stop words,
        raw counts) are fixed by ``tfidf_vectorizer``, so they need not travel.
        """
        vectorizer = self.vectorizer
        return {
            "kind": "tfidf",
            "labels": list(label_names),
            "cleaning": cleaning,
            "lowercase": vectorizer.lowercase,
            "token_pattern": vectorizer.token_pattern,
            "ngram_range": list(vectorizer.ngram_range),
            "sublinear_tf": vectorizer.sublinear_tf,
            "norm": vectorizer.norm,
            "vocabulary": {term: int(column) for term, column in vectorizer.vocabulary_.items()},
            "idf": [float(value) for value in vectorizer.idf_],  # float32 -> float is exact
        }

    def fingerprint(self) -> str:
        """Identifies the fitted transform: its settings, vocabulary and weights."""
        return hashlib.sha256(json.dumps(self.spec([], {}), sort_keys=True).encode()).hexdigest()

    def save(self, directory: str | Path, label_names: list[str], cleaning: dict[str, list[str]]) -> None:
        """Write ``features.json`` (``spec``)."""
        write_text(Path(directory) / "features.json", json.dumps(self.spec(label_names, cleaning), ensure_ascii=False))
