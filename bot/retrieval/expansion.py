"""Learned question vocabulary: how people ask for what an article (chapter, law) says.

People write "房东不退押金" where the law says "租赁物 … 返还", and "被辞退" where it says "解除
劳动合同". From training questions and their gold articles this keeps, for every such article,
the words people used to ask for it (doc2query-style expansion, learned rather than generated),
and scores a new question against them with BM25. At article level it is both a candidate source
(an article the question's words never reach can still be found) and a reranker feature; at
chapter and law level it generalises to articles no training question named (a deposit question
points to the 租赁合同 chapter even when its gold article was never seen).

Only words that at least `MIN_QUESTIONS` different training questions used are kept: the
file holds a shared lay vocabulary per article, not any one person's question.
"""
from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Iterable

MIN_QUESTIONS = 2
K1, B = 1.2, 0.75


LEVELS = ("article", "chapter", "law")


def article_id(law_norm: str, key: str) -> str:
    return f"{law_norm}:{key}"


@dataclass
class Expansion:
    """target ("民法典:577", a chapter path, a law) -> {word: training questions for it that used the word}."""

    terms: dict[str, dict[str, int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._postings: dict[str, list[tuple[str, int]]] = defaultdict(list)
        for art, words in self.terms.items():
            for w, n in words.items():
                self._postings[w].append((art, n))
        self._length = {a: sum(w.values()) for a, w in self.terms.items()}
        self._avg = sum(self._length.values()) / max(len(self._length), 1)
        n = len(self.terms)
        self._idf = {w: math.log(1 + (n - len(p) + 0.5) / (len(p) + 0.5)) for w, p in self._postings.items()}

    @classmethod
    def learn(cls, questions: Iterable[tuple[list[str], set[str]]]) -> "Expansion":
        """questions: (tokens, gold targets) per training question."""
        questions = [(set(tokens), gold) for tokens, gold in questions if gold]
        shared = {w for w, n in Counter(w for tokens, _ in questions for w in tokens).items() if n >= MIN_QUESTIONS}
        terms: dict[str, Counter] = defaultdict(Counter)
        for tokens, gold in questions:
            for target in gold:
                terms[target].update(tokens & shared)
        return cls({a: dict(c) for a, c in terms.items() if c})

    def scores(self, tokens: list[str], leave_out: tuple[list[str], set[str]] | None = None) -> dict[str, float]:
        """BM25 of the question against each article's learned words. `leave_out` (a training
        question's own tokens and gold) is subtracted first, so that while training the
        reranker a question never finds its answer through its own words."""
        counts = Counter(w for w in tokens if w in self._postings)
        out: dict[str, float] = defaultdict(float)
        for w, qtf in counts.items():
            idf = self._idf[w]
            for art, tf in self._postings[w]:
                out[art] += qtf * idf * self._bm25_tf(tf, self._length[art])
        if leave_out is not None:
            own, gold = set(leave_out[0]), leave_out[1]
            for art in gold:
                if art not in self.terms:
                    continue
                words = self.terms[art]
                length = self._length[art] - sum(1 for w in own if w in words)
                out[art] = sum(qtf * self._idf[w] * self._bm25_tf(words[w] - (w in own), length)
                               for w, qtf in counts.items() if w in words)
        return {a: s for a, s in out.items() if s > 0}

    def _bm25_tf(self, tf: int, length: int) -> float:
        if tf <= 0:
            return 0.0
        return tf * (K1 + 1) / (tf + K1 * (1 - B + B * length / max(self._avg, 1e-9)))
