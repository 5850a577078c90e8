"""Word classes induced from a corpus: a stand-in for part-of-speech tags, fitted offline.

Tang et al. (2019) replace a word by another of the same part of speech. No English tagger
installs offline from the package index (NLTK's and spaCy's models download from elsewhere),
so classes are induced the way unsupervised POS induction does (Schütze, 1995): each frequent
word is described by the words seen just before and just after it, and k-means groups words
that occur in the same slots: determiners with determiners, verbs in -ed with their kind.
"""

from __future__ import annotations

import re
from collections import Counter

import numpy as np
from sklearn.cluster import KMeans

TOKEN = re.compile(r"\w+(?:'\w+)?|[^\w\s]")


def tokenize(text: str) -> list[str]:
    """Lower-cased words and single punctuation marks (the students and the teacher are uncased)."""
    return TOKEN.findall(text.lower())


class WordClasses:
    """``n_classes`` groups of the words seen at least ``min_count`` times, and their frequencies.

    ``replace`` draws another word of a word's class from the class's unigram distribution.
    """

    def __init__(self, n_classes: int = 50, min_count: int = 5, context_words: int = 500, seed: int = 0) -> None:
        self.n_classes, self.min_count, self.context_words, self.seed = n_classes, min_count, context_words, seed
        self.class_of: dict[str, int] = {}
        self.words: list[np.ndarray] = []  # per class: its words, most frequent first
        self.cdf: list[np.ndarray] = []  # per class: cumulative unigram probabilities of those words
        self.position: dict[str, int] = {}  # a word's place in its class's list

    def fit(self, documents: list[list[str]]) -> WordClasses:
        counts = Counter(token for tokens in documents for token in tokens)
        vocabulary = sorted((w for w, c in counts.items() if c >= self.min_count), key=lambda w: (-counts[w], w))
        if len(vocabulary) < self.n_classes:
            return self._assign(counts, {})  # too little text to group words: nothing is replaced
        labels = self._induce(documents, vocabulary)
        return self._assign(counts, {word: int(label) for word, label in zip(vocabulary, labels)})

    def from_strings(self, documents: list[list[str]], classes: list[str]) -> WordClasses:
        """The classes ``as_strings`` recorded, with frequencies counted on ``documents``: no k-means."""
        counts = Counter(token for tokens in documents for token in tokens)
        return self._assign(counts, {word: label for label, words in enumerate(classes) for word in words.split(" ")
                                     if word})

    def as_strings(self) -> list[str]:
        """Each class's words joined by spaces (tokens never contain one), most frequent first."""
        return [" ".join(words) for words in self.words]

    def _induce(self, documents: list[list[str]], vocabulary: list[str]) -> np.ndarray:
        """A class per vocabulary word: k-means on each word's left and right neighbours."""
        index = {word: row for row, word in enumerate(vocabulary)}
        contexts = min(self.context_words, len(vocabulary))
        left, right = self._neighbours(documents, index)
        features = np.zeros((len(vocabulary), 2 * contexts))
        for offset, (word, neighbour) in enumerate(((right, left), (left, right))):
            keep = neighbour < contexts
            cells = word[keep] * (2 * contexts) + offset * contexts + neighbour[keep]
            features.flat[:] += np.bincount(cells, minlength=features.size)
        features = np.log1p(features)
        features /= np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)
        return KMeans(self.n_classes, n_init=3, random_state=self.seed).fit_predict(features)

    def _assign(self, counts: Counter, class_of: dict[str, int]) -> WordClasses:
        """Each class's words, most frequent first, and their cumulative unigram probabilities."""
        self.class_of = class_of
        self.words, self.cdf = [], []
        for label in range(max(class_of.values(), default=-1) + 1):
            words = sorted((word for word, own in class_of.items() if own == label), key=lambda w: (-counts[w], w))
            frequency = np.asarray([counts[word] for word in words], dtype=np.float64)
            self.words.append(np.asarray(words, dtype=object))
            self.cdf.append(np.cumsum(frequency) / frequency.sum())
        self.position = {word: place for words in self.words for place, word in enumerate(words)}
        return self

    @staticmethod
    def _neighbours(documents: list[list[str]], index: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
        """(left, right) vocabulary rows of every adjacent pair of in-vocabulary tokens."""
        left, right = [], []
        for tokens in documents:
            rows = [index.get(token, -1) for token in tokens]
            pairs = [(a, b) for a, b in zip(rows, rows[1:]) if a >= 0 and b >= 0]
            left.extend(a for a, _ in pairs)
            right.extend(b for _, b in pairs)
        return np.asarray(left, dtype=np.int64), np.asarray(right, dtype=np.int64)

    def replaceable(self, word: str) -> bool:
        """Whether ``word`` has a class with another word in it."""
        label = self.class_of.get(word)
        return label is not None and len(self.words[label]) > 1

    def replace(self, word: str, rng: np.random.Generator) -> str:
        """Another word of ``word``'s class, drawn in proportion to frequency (never ``word`` itself)."""
        label = self.class_of[word]
        words, cdf = self.words[label], self.cdf[label]
        position = self.position[word]
        own = cdf[position] - (cdf[position - 1] if position else 0.0)
        draw = rng.random() * (1.0 - own)
        if draw >= cdf[position] - own:
            draw += own  # skip the word's own share of the distribution
        return str(words[min(int(np.searchsorted(cdf, draw, side="right")), len(words) - 1)])
