"""BM25 over jieba tokens (bm25s), scoring every unit at once so fusion sees full score vectors.

Tokens are kept in the unit store, so adding or removing a document re-indexes from stored
tokens in seconds instead of re-tokenising the corpus.
"""
from __future__ import annotations

import logging
from pathlib import Path

import bm25s
import numpy as np

# bm25s sets its own logger to DEBUG on import, so once anything configures logging ("Building
# index from tokens") reaches a user's terminal; its debug lines are of no use to them.
logging.getLogger("bm25s").setLevel(logging.WARNING)

FOLDER = "bm25"


class SparseIndex:
    def __init__(self, model: bm25s.BM25):
        self.model = model
        self._df: np.ndarray | None = None
        self._idf: dict[str, float] = {}  # a token's idf, once computed (card fit asks for ~70 per answer)

    @classmethod
    def build(cls, tokens: list[list[str]]) -> "SparseIndex":
        model = bm25s.BM25(k1=1.2, b=0.75)
        # An empty token list would make bm25s drop the document and shift every position after it.
        model.index([t or ["∅"] for t in tokens], show_progress=False)
        return cls(model)

    @classmethod
    def load(cls, folder: Path) -> "SparseIndex":
        return cls(bm25s.BM25.load(str(folder / FOLDER), mmap=True, load_corpus=False))

    def save(self, folder: Path) -> None:
        self.model.save(str(folder / FOLDER), show_progress=False)

    def idf(self, token: str) -> float:
        """Inverse document frequency of a token (0 for a token the index has never seen)."""
        if (known := self._idf.get(token)) is not None:
            return known
        if self._df is None:
            self._df = np.diff(self.model.scores["indptr"])  # one CSC column per vocabulary entry
        j = self.model.vocab_dict.get(token)
        if j is None:
            return 0.0
        n, df = int(self.model.scores["num_docs"]), self._df[j]
        self._idf[token] = idf = float(np.log(1 + (n - df + 0.5) / (df + 0.5)))
        return idf

    def known(self, tokens: list[str]) -> list[str]:
        """The tokens the index has seen: the others score nothing."""
        return [t for t in tokens if t in self.model.vocab_dict]

    def scores(self, tokens: list[str]) -> np.ndarray:
        """BM25 score of every unit, in the order the index was built (unit-id order)."""
        known = self.known(tokens)
        if not known:
            return np.zeros(self.model.scores["num_docs"], dtype=np.float32)
        return self.model.get_scores(known)
