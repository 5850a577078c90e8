"""Turn texts into model inputs: WordPiece ids for the teacher and BiLSTM, TF-IDF for the logistic student."""

from distill.features.tfidf import TfidfFeatures
from distill.features.wordpiece import WordPieceFeatures

__all__ = ["TfidfFeatures", "WordPieceFeatures"]
