"""Raw text to model inputs, redone from a saved ``features/`` folder with numpy and tokenizers.

``features.json`` (written by the training features, ``distill.features``) names its
``kind``, the labels, the text cleaning the data module applied (``cleaning``: e.g. strip
Usenet headers, footers and quotes) and what the transform needs.
``Preprocessing`` turns it into a callable that cleans raw texts the way training did, then encodes them.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from distill.data.strip import strip_message

Inputs = dict[str, np.ndarray]
# A Usenet header field, at the start of a line of the message's first block.
HEADER_FIELD = re.compile(r"^(From|Subject|Newsgroups|Path|Organization|Lines|Message-ID|Date|Sender|Reply-To|"
                          r"Distribution|NNTP-Posting-Host|Keywords|Summary|References|Followup-To|Expires|"
                          r"Article-I\.D\.|X-[\w-]+): ", re.MULTILINE)


class TfidfTransform:
    """scikit-learn's ``TfidfVectorizer.transform`` in numpy, for the settings it was saved with.

    Lowercase, ``token_pattern`` words, n-grams joined by spaces, raw counts (``1 + log`` when
    ``sublinear_tf``), times idf, then an l2 norm per row; float32 as in training. Outputs
    EmbeddingBag inputs.
    """

    inputs = {"indices": ("int64", ("nnz",)), "offsets": ("int64", ("batch",)), "weights": ("float32", ("nnz",))}

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
        self.vocab_size = len(self.vocabulary)

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

    def __call__(self, texts: Sequence[str]) -> Inputs:
        """Concatenated ``indices`` and ``weights``, one offset per text."""
        return self.bags([self.row(text) for text in texts])

    @staticmethod
    def bags(rows: list[tuple[np.ndarray, np.ndarray]]) -> Inputs:
        lengths = np.array([len(columns) for columns, _ in rows], dtype=np.int64)
        return {
            "indices": np.concatenate([columns for columns, _ in rows]).astype(np.int64),
            "offsets": np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64),
            "weights": np.concatenate([weights for _, weights in rows]).astype(np.float32),
        }

    def example(self, lengths: list[int], seed: int = 0) -> Inputs:
        """Random inputs, one document per entry of ``lengths`` (its number of non-zeros)."""
        rng = np.random.default_rng(seed)
        return self.bags([(rng.integers(0, self.vocab_size, n), rng.random(n, dtype=np.float32)) for n in lengths])

    def truncated(self, text: str) -> bool:
        return False


class WordPieceTransform:
    """The training tokenizer, truncated to ``max_length`` tokens, padded to the batch's longest."""

    inputs = {"input_ids": ("int64", ("batch", "sequence")), "attention_mask": ("int64", ("batch", "sequence"))}

    def __init__(self, spec: dict, tokenizer_file: Path) -> None:
        from tokenizers import Tokenizer

        self.tokenizer = Tokenizer.from_file(str(tokenizer_file))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(spec["max_length"])
        self.max_length = spec["max_length"]
        self.pad_id = spec["pad_id"]
        self.vocab_size = self.tokenizer.get_vocab_size()

    def __call__(self, texts: Sequence[str]) -> Inputs:
        return self.pad([encoding.ids for encoding in self.tokenizer.encode_batch(list(texts))])

    def pad(self, rows: list[list[int]]) -> Inputs:
        width = max(len(row) for row in rows)
        input_ids = np.full((len(rows), width), self.pad_id, dtype=np.int64)
        attention_mask = np.zeros((len(rows), width), dtype=np.int64)
        for i, row in enumerate(rows):
            input_ids[i, : len(row)] = row
            attention_mask[i, : len(row)] = 1
        return {"input_ids": input_ids, "attention_mask": attention_mask}

    def example(self, lengths: list[int], seed: int = 0) -> Inputs:
        """Random token ids, one document per entry of ``lengths`` (its number of tokens)."""
        rng = np.random.default_rng(seed)
        return self.pad([rng.integers(1, self.vocab_size, n).tolist() for n in lengths])

    def truncated(self, text: str) -> bool:
        """Whether ``text`` had more tokens than ``max_length`` (the rest was not read)."""
        return bool(self.tokenizer.encode(text).overflowing)


def clean(texts: Sequence[str], cleaning: dict[str, list[str]]) -> list[str]:
    """Each text as training saw it (``cleaning["strip"]``: headers, footers, quotes).

    A header (everything before the first blank line) is stripped only when that block holds a
    Usenet header field (``From:``, ``Subject:``, ...): every training message had one, while a
    pasted text, which has none, would otherwise lose its first paragraph.
    """
    strip = tuple(cleaning.get("strip", ()))
    without_header = tuple(part for part in strip if part != "headers")
    return [strip_message(text, strip if HEADER_FIELD.search(text.partition("\n\n")[0]) else without_header)
            for text in texts]


class Preprocessing:
    """Clean raw texts as the data module did, then encode them as the model's features did."""

    def __init__(self, folder: str | Path) -> None:
        folder = Path(folder)
        spec = json.loads((folder / "features.json").read_text())
        self.kind: str = spec["kind"]
        self.labels: list[str] = spec["labels"]
        self.cleaning: dict[str, list[str]] = spec.get("cleaning", {})
        self.max_length: int | None = spec.get("max_length")
        self.files = [path for name in ("features.json", "tokenizer.json") if (path := folder / name).is_file()]
        if self.kind == "tfidf":
            self.transform: TfidfTransform | WordPieceTransform = TfidfTransform(spec)
        else:
            self.transform = WordPieceTransform(spec, folder / "tokenizer.json")

    def clean(self, texts: Sequence[str]) -> list[str]:
        return clean(texts, self.cleaning)

    def __call__(self, texts: Sequence[str]) -> Inputs:
        return self.transform(self.clean(texts))
