"""Answers to questions asked before, kept (LRU) so that a service asked the same things over and
over (a 12348 line: `Records.most_asked`) computes each once.

Exactly correct or not at all. The key holds everything an answer is computed from: the question
and conversation as the pipeline reads them (`privacy.printable`), the audience, the filters, and
the knowledge base's build folder, validity day and reranker — an index swap or update opens a
new pipeline with an empty cache besides. Never kept: questions or history that redaction changed
(personal data must not travel to another asker through the cache, not even redacted), answers
from a model composer that fell back (a timeout or rate limit upstream is not the answer to the
question), and whatever raised. Entries are copies, handed out as copies.

`FARUN_ANSWER_CACHE`: how many answers to keep (0: no cache).
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable, Sequence

from .models import Answer
from .privacy import printable, redact


def answer_key(kb, question: str, history: Sequence[tuple[str, str]], audience: str, filters) -> Hashable | None:
    """What an answer is computed from, or None when the question must not be cached."""
    texts = [printable(question or "")] + [printable(t) for turn in history for t in turn]
    if any(redact(t) != t for t in texts):
        return None
    return (texts[0], tuple(texts[1:]), audience, repr(filters), str(kb.folder), kb.as_of, kb.rerank_stage)


class AnswerCache:
    def __init__(self, size: int):
        self.size = size
        self.hits = self.misses = 0
        self._answers: OrderedDict[Hashable, Answer] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._answers)

    def get(self, key: Hashable | None) -> Answer | None:
        if key is None or not self.size:
            return None
        with self._lock:
            found = self._answers.get(key)
            if found is None:
                self.misses += 1
                return None
            self._answers.move_to_end(key)
            self.hits += 1
        return found.model_copy(deep=True)

    def put(self, key: Hashable | None, answer: Answer) -> None:
        if key is None or not self.size or answer.fallback_reason:
            return
        kept = answer.model_copy(deep=True)
        with self._lock:
            self._answers[key] = kept
            self._answers.move_to_end(key)
            while len(self._answers) > self.size:
                self._answers.popitem(last=False)
