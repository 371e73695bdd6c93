"""Exact citations in a question: 民法典第1079条, 《劳动合同法》第八十二条, 第一千零七十九条
(with a law named earlier in the question or the conversation)."""
from __future__ import annotations

from dataclasses import dataclass

from ..lawnames import norm_title
from ..numerals import ARTICLE_RE, cn_to_int


@dataclass(frozen=True)
class CitedArticle:
    """An article a question cites (not `answer.models.Citation`, a source an answer relies on)."""

    law_norm: str  # normalised title of the law cited
    article_no: int
    sub_no: int | None = None


class AliasTable:
    """Every name a law is known by (normalised), mapped to the law's normalised title."""

    def __init__(self, names: dict[str, str]):
        self.names = {k: v for k, v in names.items() if len(k) >= 2}
        self.longest = max((len(k) for k in self.names), default=0)

    def law_ending(self, text: str) -> str | None:
        """The law whose name `text` ends with (the longest such name wins: 劳动合同法, not 合同法)."""
        t = norm_title(text).rstrip("的")
        for n in range(min(len(t), self.longest), 1, -1):
            if (hit := self.names.get(t[-n:])) is not None:
                return hit
        return None

    def laws_named(self, text: str) -> list[str]:
        """Laws named anywhere in text, in order of their last mention."""
        t = norm_title(text)
        found: dict[str, int] = {}
        for name, law in self.names.items():
            if len(name) >= 3 and (pos := t.rfind(name)) >= 0:
                found[law] = max(found.get(law, -1), pos + len(name))
        return sorted(found, key=found.get)

    def resolve(self, name: str) -> str | None:
        """A law given by name or alias: exact match first, then the one name containing it."""
        t = norm_title(name)
        if t in self.names:
            return self.names[t]
        matches = {law for n, law in self.names.items() if t and t in n}
        return matches.pop() if len(matches) == 1 else None


def find_citations(question: str, aliases: AliasTable, context: str = "") -> list[CitedArticle]:
    """Article references in question; a bare 第N条 takes the law last named in question or context."""
    out: list[CitedArticle] = []
    for m in ARTICLE_RE.finditer(question):
        no = cn_to_int(m.group(1))
        if no is None:
            continue
        sub = cn_to_int(m.group(2)) if m.group(2) else None
        law = aliases.law_ending(question[: m.start()][-aliases.longest - 4 :])
        if law is None:
            earlier = aliases.laws_named(context + "\n" + question[: m.start()])
            law = earlier[-1] if earlier else None
        if law is not None and (c := CitedArticle(law, no, sub)) not in out:
            out.append(c)
    return out
