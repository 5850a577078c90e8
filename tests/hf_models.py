"""Tiny random Hugging Face models saved with ``save_pretrained``, for tests of teachers made elsewhere
and of labelling (torch and transformers are imported only where a model is built or loaded: the
SIGKILL test's worker starts fast).

``save_model(folder, arch, id2label)`` writes a tiny random ``arch`` ("bert", "distilbert",
"roberta", "gpt2") with its own tokenizer (BERT's WordPiece, or a byte-level BPE trained here
with the ``tokenizers`` library) and returns the folder; ``id2label=None`` saves the bare
encoder (no classification head). ``LABELS`` are the classes of conftest's corpus in its
order; ``SHUFFLED`` is the order the saved models list them in. For labelling tests,
``save_tiny_classifier`` writes a BERT whose logits differ between documents and
``load_classifier`` reads one back; ``documents`` are texts to label, ``text_logits`` a stand-in labeller.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from conftest import GROUPS, TINY_TEACHER

LABELS = sorted(GROUPS)
SHUFFLED = [LABELS[2], LABELS[0], LABELS[1]]
MAX_LENGTH = 48
TEXTS = [f"{group} {words} {words.upper()} re: café naïve 42" for group, words in GROUPS.items()]
SIZE = {"hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 32}
WORDS = sorted({word for words in GROUPS.values() for word in words.split()} | {"the", "a", "and", "of"})
LETTERS = "abcdefghijklmnopqrstuvwxyz"
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS, *LETTERS, *(f"##{letter}" for letter in LETTERS)]


def wordpiece_tokenizer():
    from transformers import BertTokenizer

    words = sorted({word for text in TEXTS for word in text.lower().split()} | set(LETTERS + "0123456789.:"))
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words, *(f"##{c}" for c in LETTERS)]
    return BertTokenizer(vocab={token: i for i, token in enumerate(dict.fromkeys(vocab))}, model_max_length=MAX_LENGTH)


def bpe_tokenizer():
    """A byte-level BPE (RoBERTa's kind: <s> </s> <pad>=1, no token_type_ids) trained on ``TEXTS``."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import RobertaTokenizer

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(TEXTS * 4, vocab_size=320, min_frequency=1, show_progress=False,
                            special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    model = json.loads(bpe.to_str())["model"]
    return RobertaTokenizer(vocab=model["vocab"], merges=[tuple(pair) for pair in model["merges"]],
                            model_max_length=MAX_LENGTH)


def _config(arch: str, vocab_size: int, pad_id: int, labels: dict):
    import transformers

    if arch == "distilbert":
        return transformers.DistilBertConfig(vocab_size=vocab_size, dim=16, n_layers=1, n_heads=2, hidden_dim=32,
                                             max_position_embeddings=MAX_LENGTH, pad_token_id=pad_id, **labels)
    if arch == "gpt2":
        return transformers.GPT2Config(vocab_size=vocab_size, n_embd=16, n_layer=1, n_head=2, n_positions=MAX_LENGTH,
                                       bos_token_id=0, eos_token_id=2, pad_token_id=pad_id, **labels)
    config = {"bert": transformers.BertConfig, "roberta": transformers.RobertaConfig}[arch]
    positions = MAX_LENGTH + 2 if arch == "roberta" else MAX_LENGTH  # RoBERTa's positions start after pad_id
    return config(vocab_size=vocab_size, max_position_embeddings=positions, pad_token_id=pad_id, **SIZE, **labels)


def save_model(folder: Path, arch: str = "bert", id2label: list[str] | None = SHUFFLED, seed: int = 0) -> Path:
    """A tiny random ``arch`` classifier over ``id2label`` (None: the encoder alone) and its tokenizer."""
    import torch
    import transformers

    tokenizer = wordpiece_tokenizer() if arch in ("bert", "distilbert") else bpe_tokenizer()
    labels = {} if id2label is None else {"id2label": dict(enumerate(id2label)),
                                          "label2id": {name: i for i, name in enumerate(id2label)}}
    config = _config(arch, len(tokenizer), tokenizer.pad_token_id or 0, labels)
    torch.manual_seed(seed)
    prefix = {"bert": "Bert", "distilbert": "DistilBert", "roberta": "Roberta", "gpt2": "GPT2"}[arch]
    cls = getattr(transformers, f"{prefix}Model" if id2label is None else f"{prefix}ForSequenceClassification")
    model = cls(config)
    with torch.no_grad():  # heads start at zero bias and small weights: make every logit column distinct
        for parameter in model.parameters():
            parameter.add_(0.1 * torch.randn_like(parameter))
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@dataclass
class Classifier:
    """What a labeller runs (``distill.labelling_backends``)."""

    model: Any  # an AutoModelForSequenceClassification
    tokenizer: Any
    max_length: int = 32


def load_classifier(folder: Path, max_length: int = 32) -> Classifier:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    return Classifier(model, AutoTokenizer.from_pretrained(folder), max_length)


def save_tiny_classifier(folder: Path, seed: int = 0) -> Path:
    """A random tiny BERT of 3 unnamed classes whose tokenizer sets no length limit (the labeller then
    reads the model's positions), with weights 25x the default spread: logits that differ between
    documents, not all one class, which labelling's comparisons need."""
    import torch
    from transformers import AutoModelForSequenceClassification, BertConfig, BertTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    BertTokenizerFast(vocab_file=str(folder / "vocab.txt")).save_pretrained(folder)
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=len(VOCAB), num_labels=len(GROUPS), initializer_range=0.5, **TINY_TEACHER)
    AutoModelForSequenceClassification.from_config(config).save_pretrained(folder)
    return folder


def documents(count: int, seed: int = 0) -> list[str]:
    """Texts of varied lengths over ``WORDS``, some with words the tokenizer splits into letters."""
    rng = np.random.default_rng(seed)
    pool = [*WORDS, "zebra", "quux"]
    return [" ".join(rng.choice(pool, size=int(rng.integers(1, 40)))) for _ in range(count)]


def text_logits(texts: list[str]) -> np.ndarray:
    """A deterministic stand-in labeller (the same in every process): logits from each text's CRC."""
    codes = np.asarray([zlib.crc32(text.encode()) for text in texts], dtype=np.int64)
    return np.stack([codes % 97, codes % 89, -(codes % 83)], axis=1).astype(np.float32) / 10
