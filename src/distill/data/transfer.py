"""A transfer set (Tang et al., 2019): perturbed copies of the training documents.

The teacher labels them once (``distill.transfer_labels``); students learn them from its soft
labels alone (label -1). They show the student the teacher's function on more of the input
space than the ~10k training documents, on which the teacher is over-confident.
The set is not stored: it is regenerated from the training split, deterministically, and its
fingerprint is checked against the store of the teacher's logits on it. The store records the
word classes the labeller used (``word_classes``): readers rebuild the set with those, because
re-fitting them is not bit-identical on another CPU.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from distill.data.corpus import Corpus
from distill.data.word_classes import WordClasses, tokenize
from distill.errors import UserError

MASK = "[MASK]"
# A transfer example's id: ID_BASE + its source document's id * ID_STRIDE + its copy number, so
# that it names the training document it derives from and never equals a corpus id.
ID_BASE = 2**40
ID_STRIDE = 1000


def source_ids(ids: np.ndarray) -> np.ndarray:
    """The training document each transfer example was made from."""
    return (np.asarray(ids, dtype=np.int64) - ID_BASE) // ID_STRIDE


@dataclass(frozen=True)
class TangTransfer:
    """Tang et al.'s rules, applied ``copies`` times to each training document.

    Each word becomes ``[MASK]`` with ``p_mask``, else with ``p_pos`` another word of its class
    (``WordClasses``, the offline stand-in for a POS tag) drawn by unigram frequency. Then,
    with ``p_ng``, only a random n-gram is kept: n is drawn uniformly from 1..max(5, ceil(L/4))
    words for a document of L words, which is Tang's 1..5 for a 20-word sentence and keeps
    up to a quarter of a long post. Copies equal to their source or to an earlier copy, and
    empty ones, are dropped. ``logits`` is the store of the teacher's logits on the set.
    """

    copies: int = 1
    p_mask: float = 0.1
    p_pos: float = 0.1
    p_ng: float = 0.25
    word_classes: int = 50
    min_count: int = 5
    seed: int = 42
    logits: str | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.copies < ID_STRIDE:
            raise UserError(f"transfer.copies must be in 1..{ID_STRIDE - 1}, got {self.copies}")
        for name in ("p_mask", "p_pos", "p_ng"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise UserError(f"transfer.{name} must be a probability in [0, 1], got {getattr(self, name)}")

    def rules(self) -> dict:
        """What decides the generated texts besides the source split (recorded in the store)."""
        return {"name": "tang", **{key: value for key, value in asdict(self).items() if key != "logits"}}

    def recorded_classes(self, source: dict, store: str) -> list[str] | None:
        """The word classes a labelled store's ``source`` records, once its rules are these: the
        classes fix the copies, so rules they no longer reflect (``word_classes``, ``min_count``)
        must not pass. None for a store labelled before classes were recorded (re-fitted here)."""
        if source.get("rules") != self.rules():
            raise UserError(f"the transfer set at {store} was made with other rules ({source.get('rules')}): "
                            "set transfer.* as it was made, or re-label it with these")
        return source.get("word_classes")

    def fit_classes(self, train: Corpus) -> list[str]:
        """The word classes of ``train``, as a store records them (``WordClasses.as_strings``)."""
        return WordClasses(self.word_classes, self.min_count, seed=self.seed).fit(
            [tokenize(text) for text in train.texts]).as_strings()

    def generate(self, train: Corpus, classes: list[str] | None = None) -> Corpus:
        """The transfer set of ``train``: label -1, ids that name their source (``source_ids``).

        ``classes`` (``fit_classes``, or a labelled store's ``source["word_classes"]``) are the
        word classes to draw replacements from; None fits them here.
        """
        documents = [tokenize(text) for text in train.texts]
        words = WordClasses(self.word_classes, self.min_count, seed=self.seed)
        classes = words.fit(documents) if classes is None else words.from_strings(documents, classes)
        seen = {" ".join(tokens) for tokens in documents}
        ids, texts = [], []
        for source, tokens in zip(train.ids, documents):
            for copy in range(self.copies):
                rng = np.random.default_rng((self.seed, int(source), copy))
                text = " ".join(self.perturb(tokens, classes, rng))
                if text and text not in seen:
                    seen.add(text)
                    ids.append(ID_BASE + int(source) * ID_STRIDE + copy)
                    texts.append(text)
        return Corpus(np.asarray(ids, dtype=np.int64), texts, np.full(len(ids), -1, dtype=np.int64),
                      train.label_names)

    def perturb(self, tokens: list[str], classes: WordClasses, rng: np.random.Generator) -> list[str]:
        """One perturbed copy of a tokenised document."""
        masked = rng.random(len(tokens)) < self.p_mask
        swapped = rng.random(len(tokens)) < self.p_pos
        words = [MASK if mask else classes.replace(token, rng) if swap and classes.replaceable(token) else token
                 for token, mask, swap in zip(tokens, masked, swapped)]
        if words and rng.random() < self.p_ng:
            n = min(int(rng.integers(1, max(5, math.ceil(len(words) / 4)) + 1)), len(words))
            start = int(rng.integers(0, len(words) - n + 1))
            words = words[start : start + n]
        return words
