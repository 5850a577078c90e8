"""Serve an exported model with onnxruntime, numpy and tokenizers only: no torch, no scikit-learn.

    from distill.onnx_predict import OnnxClassifier
    model = OnnxClassifier.from_dir("logs/pipeline/<time>/export/bilstm_kd")
    model.predict(["the shuttle launch slipped a week"])   # -> ["sci.space"]

Texts go in as the model saw them in training: the data module's header/quote stripping
happens before the features, so strip the same way (``distill.data.strip``) if it was on.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import numpy as np
import onnxruntime
from tokenizers import Tokenizer


class TfidfTransform:
    """scikit-learn's ``TfidfVectorizer.transform`` in numpy, for the settings it was saved with.

    Lowercase, ``token_pattern`` words, n-grams joined by spaces, raw counts (``1 + log`` when
    ``sublinear_tf``), times idf, then an l2 norm per row; float32 as in training.
    """

    def __init__(self, spec: dict) -> None:
        if spec["norm"] not in ("l2", None):
            raise ValueError(f"TF-IDF norm {spec['norm']!r} is not implemented here")
        self.lowercase = spec["lowercase"]
        self.pattern = re.compile(spec["token_pattern"])
        self.min_n, self.max_n = spec["ngram_range"]
        self.sublinear_tf = spec["sublinear_tf"]
        self.norm = spec["norm"]
        self.vocabulary: dict[str, int] = spec["vocabulary"]
        self.idf = np.asarray(spec["idf"], dtype=np.float32)

    def terms(self, text: str) -> list[str]:
        """Word n-grams in scikit-learn's order (``_word_ngrams``)."""
        tokens = self.pattern.findall(text.lower() if self.lowercase else text)
        return [" ".join(tokens[i : i + n]) for n in range(self.min_n, self.max_n + 1)
                for i in range(len(tokens) - n + 1)]

    def row(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """One document's (sorted column indices, float32 weights)."""
        counts = Counter(column for term in self.terms(text) if (column := self.vocabulary.get(term)) is not None)
        columns = np.array(sorted(counts), dtype=np.int64)
        weights = np.array([counts[column] for column in columns], dtype=np.float32)
        if self.sublinear_tf:
            weights = np.log(weights) + np.float32(1.0)
        weights = weights * self.idf[columns]
        if self.norm == "l2" and weights.size:
            # scikit-learn sums the float32 squares in float64 and divides in float64.
            norm = np.sqrt(np.sum(weights * weights, dtype=np.float64))
            weights = (weights / norm).astype(np.float32)
        return columns, weights

    def __call__(self, texts: list[str]) -> dict[str, np.ndarray]:
        """EmbeddingBag inputs: concatenated ``indices`` and ``weights``, one offset per text."""
        rows = [self.row(text) for text in texts]
        lengths = np.array([len(columns) for columns, _ in rows], dtype=np.int64)
        return {
            "indices": np.concatenate([columns for columns, _ in rows]),
            "offsets": np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64),
            "weights": np.concatenate([weights for _, weights in rows]).astype(np.float32),
        }


class WordPieceTransform:
    """The training tokenizer, truncated to ``max_length`` tokens, padded to the batch's longest."""

    def __init__(self, spec: dict, tokenizer_file: Path) -> None:
        self.tokenizer = Tokenizer.from_file(str(tokenizer_file))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(spec["max_length"])
        self.pad_id = spec["pad_id"]

    def __call__(self, texts: list[str]) -> dict[str, np.ndarray]:
        encodings = self.tokenizer.encode_batch(texts)
        width = max(len(encoding.ids) for encoding in encodings)
        input_ids = np.full((len(texts), width), self.pad_id, dtype=np.int64)
        attention_mask = np.zeros((len(texts), width), dtype=np.int64)
        for i, encoding in enumerate(encodings):
            input_ids[i, : len(encoding.ids)] = encoding.ids
            attention_mask[i, : len(encoding.ids)] = 1
        return {"input_ids": input_ids, "attention_mask": attention_mask}


class OnnxClassifier:
    """An exported model folder (``model.onnx``, ``manifest.json``, ``features.json``) as a classifier."""

    def __init__(self, session: onnxruntime.InferenceSession, transform: TfidfTransform | WordPieceTransform,
                 labels: list[str]) -> None:
        self.session, self.transform, self.labels = session, transform, labels

    @classmethod
    def from_dir(cls, path: str | Path) -> OnnxClassifier:
        path = Path(path)
        manifest = json.loads((path / "manifest.json").read_text())
        spec = json.loads((path / "features.json").read_text())
        if spec["kind"] == "tfidf":
            transform = TfidfTransform(spec)
        else:
            transform = WordPieceTransform(spec, path / "tokenizer.json")
        session = onnxruntime.InferenceSession(str(path / manifest["onnx"]), providers=["CPUExecutionProvider"])
        return cls(session, transform, manifest["labels"])

    def logits(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """(len(texts), classes) float32 logits, ``batch_size`` texts per session run."""
        batches = [self.session.run(["logits"], self.transform(texts[start : start + batch_size]))[0]
                   for start in range(0, len(texts), batch_size)]
        return np.concatenate(batches) if batches else np.zeros((0, len(self.labels)), dtype=np.float32)

    def predict_proba(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        logits = self.logits(texts, batch_size)
        exp = np.exp(logits - logits.max(axis=1, keepdims=True))
        return exp / exp.sum(axis=1, keepdims=True)

    def predict(self, texts: list[str], batch_size: int = 64) -> list[str]:
        return [self.labels[index] for index in self.logits(texts, batch_size).argmax(axis=1)]
