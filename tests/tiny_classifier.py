"""A tiny random BERT sequence classifier with its own WordPiece vocabulary, for labelling tests
(transformers is imported only where a model is built: the SIGKILL test's worker starts fast)."""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from conftest import GROUPS, TINY_TEACHER

WORDS = sorted({word for words in GROUPS.values() for word in words.split()} | {"the", "a", "and", "of"})
LETTERS = "abcdefghijklmnopqrstuvwxyz"
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS, *LETTERS, *(f"##{letter}" for letter in LETTERS)]


@dataclass
class Classifier:
    model: Any  # an AutoModelForSequenceClassification
    tokenizer: Any
    max_length: int = 32


def save_tiny_classifier(folder: Path, seed: int = 0) -> Path:
    """A random tiny BERT classifier of 3 classes, saved with ``save_pretrained`` (model and tokenizer)."""
    import torch
    from transformers import AutoModelForSequenceClassification, BertConfig, BertTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    BertTokenizerFast(vocab_file=str(folder / "vocab.txt")).save_pretrained(folder)
    torch.manual_seed(seed)
    # weights 25x the default spread: logits that differ between documents, not all one class
    config = BertConfig(vocab_size=len(VOCAB), num_labels=len(GROUPS), initializer_range=0.5, **TINY_TEACHER)
    AutoModelForSequenceClassification.from_config(config).save_pretrained(folder)
    return folder


def load_classifier(folder: Path, max_length: int = 32) -> Classifier:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    return Classifier(model, AutoTokenizer.from_pretrained(folder), max_length)


def documents(count: int, seed: int = 0) -> list[str]:
    """Texts of varied lengths over the tiny vocabulary, some with words it splits into letters."""
    rng = np.random.default_rng(seed)
    pool = [*WORDS, "zebra", "quux"]
    return [" ".join(rng.choice(pool, size=int(rng.integers(1, 40)))) for _ in range(count)]


def text_logits(texts: list[str]) -> np.ndarray:
    """A deterministic stand-in labeller (the same in every process): logits from each text's CRC."""
    codes = np.asarray([zlib.crc32(text.encode()) for text in texts], dtype=np.int64)
    return np.stack([codes % 97, codes % 89, -(codes % 83)], axis=1).astype(np.float32) / 10
