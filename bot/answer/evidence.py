"""Evidence for composers: numbered sources, each with the sentences that bear on the question.

Sentences are scored lexically (IDF-weighted overlap with the question's tokens): deterministic
and a few microseconds per article, where embedding every sentence would cost ~10 ms each.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path


from ..numerals import CN_NUMBER, cn_to_int
from ..retrieval.search import Hit, KnowledgeBase
from ..text import tokenize
from ..units import CURRENT, QA_LEVEL, Unit

_DATA = Path(__file__).with_name("data")
# Sentences end at 。！？ only: a rule's "；" often comes before the part that decides a case
# (刑法第十七条's age bands, a 但书), so a quote never stops there.
_SENTENCE_END = re.compile(r"(?<=[。！？])")
_ITEM = re.compile(r"^[（(][一二三四五六七八九十]+[）)]|^\d+[.、．]")
_EXCEPTION = re.compile(r"^(但是|但|然而)|除外[。！？]?$")  # a 但书 or 除外 clause qualifies the sentence before it
# "前款" / "前两款": a clause that applies the paragraph(s) before it says nothing without them
_PRIOR_PARAGRAPHS = re.compile(r"前([两二三四])?款")
_COUNT = {None: 1, "两": 2, "二": 2, "三": 3, "四": 4}
_AGE_ASKED = re.compile(rf"({CN_NUMBER}|\d{{1,3}})\s*(?:周岁|岁)")
_AGE_BOUND = re.compile(rf"(已满|不满|未满|年满)({CN_NUMBER}|\d{{1,3}})周岁")
RELATIVE_FLOOR = 0.4  # a source's best sentence must match at least this share of the best one's
PICK_SHARE = 0.7  # further sentences are picked only when they match nearly as well as the best
WHOLE_CHARS = 150  # an article this short is quoted whole: cutting it saves nothing and can mislead
KEEP_RANKED = 2  # top-ranked hits kept whatever their word overlap
SCORE_GAP = 2.0  # articles scored this far below the first ranked article are only named (`_close_to_lead`)
MAX_ITEMS = 6  # list items quoted under one lead sentence before the rest are elided
SHORT_LIST_CHARS = 200  # a list of at most MAX_ITEMS items this long is quoted whole when one item is picked
MAX_BANDS = 5  # age bands of one article quoted together when the question gives no age
# A quote shorter than this is a heading-like opening ("禁止从建筑物中抛掷物品。"): the rule that
# decides follows it in the same paragraph (who is liable, who compensates), so it is quoted on.
MIN_QUOTE_CHARS = 40


@lru_cache(maxsize=1)
def legal_vocab() -> frozenset[str]:
    """Words that mark a question as legal: the tokenizer's legal terms and answer/data/legal_vocab.txt."""
    words = set()
    for path in (Path(__file__).parent.parent / "data" / "legal_terms.txt", _DATA / "legal_vocab.txt"):
        words.update(w for line in path.read_text(encoding="utf-8").splitlines()
                     if not line.startswith("#") for w in line.split())
    return frozenset(words)


def body(unit: Unit) -> str:
    """What a unit says: a Q&A card's answer (its text also lists the ways people ask), else the text."""
    return (unit.extra.get("answer") or unit.text) if unit.level == QA_LEVEL else unit.text


def status_label(unit: Unit) -> str:
    return "" if unit.status == CURRENT else f"（{unit.status}{'：' + unit.status_note if unit.status_note else ''}）"


@dataclass
class Piece:
    text: str
    lead: int | None = None  # for a list item, the index of the sentence that introduces the list
    para: int = 0  # the paragraph (款) it belongs to


def split_pieces(text: str) -> list[Piece]:
    """Sentences of a unit; list items ((一) … / 1. …) remember the sentence that introduces them."""
    pieces: list[Piece] = []
    lead = None
    for n, para in enumerate(p.strip() for p in text.split("\n")):
        if not para:
            continue
        if _ITEM.match(para) and lead is not None:
            pieces.append(Piece(para, lead, n))
            continue
        lead = None
        for sentence in filter(None, (s.strip() for s in _SENTENCE_END.split(para))):
            pieces.append(Piece(sentence, None, n))
        if para.endswith(("：", ":")):
            lead = len(pieces) - 1
    return pieces


def ages_asked(question: str) -> list[int]:
    """Ages the question states (十三岁, 15周岁): they decide which age band of a rule applies."""
    return [a for m in _AGE_ASKED.finditer(question) if (a := cn_to_int(m.group(1))) is not None and 0 < a < 130]


def age_fit(sentence: str, ages: list[int]) -> bool | None:
    """Whether an asked age meets every 已满/不满 N 周岁 bound of the sentence; None when it sets none."""
    bounds = [(kind, cn_to_int(n)) for kind, n in _AGE_BOUND.findall(sentence)]
    if not bounds or not ages:
        return None
    return any(all(age >= n if kind in ("已满", "年满") else age < n for kind, n in bounds) for age in ages)


@dataclass
class Source:
    """One numbered piece of evidence ([n] in prompts and answers)."""

    n: int
    hit: Hit
    pieces: list[Piece]
    picked: list[int] = field(default_factory=list)  # pieces that bear on the question, in text order
    relevance: float = 0.0  # score of the best piece
    far: bool = False  # scored far below the first article (`_close_to_lead`): named, never quoted to residents

    @property
    def unit(self) -> Unit:
        return self.hit.unit

    def quote(self) -> str:
        """The picked sentences, a list's lead sentence before its items, gaps marked ……"""
        shown = self._shown()
        out, last = [], -1
        for i in shown:
            if out and i != last + 1:
                out.append("……")
            out.append(self.pieces[i].text)
            last = i
        return "".join(out)

    def marked(self) -> str:
        """The full text with the picked sentences in 【】 (paragraph breaks kept)."""
        text = body(self.unit)
        for i in self.picked:
            s = self.pieces[i].text
            text = text.replace(s, f"【{s}】", 1)
        return text

    def _shown(self) -> list[int]:
        if sum(len(p.text) for p in self.pieces) <= WHOLE_CHARS:
            return list(range(len(self.pieces)))
        shown = set(self.picked)
        for i in self.picked:
            if (lead := self.pieces[i].lead) is not None:
                shown.add(lead)
                # a short list is quoted whole: which of its cases the asker's is, is the answer,
                # and the words shared pick the wrong one as often as not (民法典第五百六十三条's
                # 不可抗力 for a developer who keeps delaying, where 迟延履行…经催告 decides)
                items = [j for j, p in enumerate(self.pieces) if p.lead == lead]
                if len(items) <= MAX_ITEMS and sum(len(self.pieces[j].text) for j in items) <= SHORT_LIST_CHARS:
                    shown.update(items)
            # a rule is quoted with its 但书, an exception with the rule it qualifies
            for j, k in ((i, i + 1), (i - 1, i)):
                if 0 <= j and k < len(self.pieces) and self.pieces[j].para == self.pieces[k].para \
                        and _EXCEPTION.search(self.pieces[k].text):
                    shown.update((j, k))
            items = [j for j, p in enumerate(self.pieces) if p.lead == i]
            if items and not shown.intersection(items):  # a picked list intro quotes its list
                shown.update(items[:MAX_ITEMS])
            shown.update(self._referenced(i, shown))
        last = max(shown, default=-1)
        while 0 <= last < len(self.pieces) - 1 and self.pieces[last + 1].para == self.pieces[last].para \
                and sum(len(self.pieces[i].text) for i in shown) < MIN_QUOTE_CHARS:
            last += 1
            shown.add(last)
        return sorted(shown)

    def _referenced(self, i: int, shown: set[int]) -> list[int]:
        """The opening sentence of each paragraph a "前款"/"前两款" clause refers to, unless one of its
        pieces is quoted already: 劳动合同法第六十三条's 「…应当符合前款规定。」 alone hides that
        the rule is 同工同酬."""
        m = _PRIOR_PARAGRAPHS.search(self.pieces[i].text)
        if not m:
            return []
        para = self.pieces[i].para
        opening: dict[int, int] = {}  # earlier paragraph -> its first piece (list items belong to their intro's)
        for j, p in enumerate(self.pieces):
            if p.para < para and p.lead is None:
                opening.setdefault(p.para, j)
        wanted = sorted(opening, reverse=True)[:_COUNT[m.group(1)]]
        quoted = {self.pieces[j].para for j in shown} | {self.pieces[self.pieces[j].lead].para for j in shown
                                                          if self.pieces[j].lead is not None}
        return [opening[q] for q in wanted if q not in quoted]


@lru_cache(maxsize=20_000)
def token_set(text: str) -> frozenset[str]:
    """A sentence's tokens; cached because the same articles answer many questions and cutting
    their sentences again was most of an answer's time."""
    return frozenset(tokenize(text))


def make_source(kb: KnowledgeBase, n: int, hit: Hit, question: str, keep: int = 1, words: str = "") -> Source:
    """A source with its `keep` best sentences picked (at least the first, so there is a quote):
    those sharing most of the question's words, or of `words` when given (a card's answer, for the
    articles the card rests on); the ages that decide are always the question's."""
    weights = {t: kb.sparse.idf(t) for t in token_set(words or question)}
    pieces = split_pieces(body(hit.unit)) or [Piece(body(hit.unit))]
    lexical = [sum(w for t, w in weights.items() if t in token_set(p.text)) for p in pieces]
    relevance = max(lexical)
    ages, scores = ages_asked(question), []
    for i, (p, score) in enumerate(zip(pieces, lexical)):
        fit = age_fit(p.text, ages)
        # The age band the asker falls in decides the case, whatever words it shares (every
        # band that covers them outranks the rest); a band that excludes them is the wrong clause.
        score = score + 10 * (relevance or 1.0) if fit else score / 2 if fit is False else score
        scores.append((score, -i))
    ranked = sorted(range(len(pieces)), key=lambda i: scores[i], reverse=True)
    best = scores[ranked[0]][0]
    picked = [i for i in ranked[:keep] if scores[i][0] >= PICK_SHARE * best and (scores[i][0] > 0 or i == ranked[0])]
    if not ages and any(_AGE_BOUND.search(pieces[i].text) for i in picked):
        # No age given ("未成年人打人了"): which band applies is the answer, so one band alone
        # (the one sharing most words) would mislead; the article's bands are quoted together.
        bands = [i for i, p in enumerate(pieces) if _AGE_BOUND.search(p.text)]
        picked = list(dict.fromkeys(picked + bands))[:max(keep, MAX_BANDS)]
    return Source(n, hit, pieces, sorted(picked), relevance)


def numbered(sources: list[Source]) -> list[Source]:
    """The sources numbered [1], [2] … in list order."""
    for n, src in enumerate(sources, 1):
        src.n = n
    return sources


def _close_to_lead(hit: Hit, hits: list[Hit]) -> bool:
    """Whether an article the search ranked is scored near the first one it ranked: the reranker's
    scores are logits, and articles more than SCORE_GAP below the first were a gold article 4–7% of
    the time on the three lay sets (2026-12-04; 20–33% within 1.5), and quoted beside the rule they
    read as part of it (刑法第二百七十五条 beside product liability for an exploding e-bike battery).
    Exact citations, cards, documents and a card's own articles are always near."""
    if hit.exact or not hit.unit.article_no:
        return True
    lead = next((h.score for h in hits if h.unit.article_no and not h.exact), hit.score)
    return hit.score >= lead - SCORE_GAP


def gather(kb: KnowledgeBase, question: str, hits: list[Hit], limit: int, keep: int = 1,
           floor: float | None = None, fitting_card: bool = False) -> list[Source]:
    """Up to `limit` sources from the hits, in rank order, skipping hits whose best sentence
    matches the question much less well than the best hit's (fused ranks let some in on a vague
    embedding match alone). When no hit shares a word with the question, the first one stays,
    unless an explicit floor says otherwise.

    A Q&A card that comes first brings the articles it rests on, ahead of the other hits; with
    `fitting_card` (the card-fit model chose it) it stays whatever words its answer shares with
    the question: a card written for "老了以后怕糊涂，能提前指定谁来照顾我吗" answers in the
    law's words (意定监护, 完全民事行为能力), which the question never uses."""
    candidates = [make_source(kb, 0, h, question, keep) for h in hits[: 2 * limit]]
    top = max((c.relevance for c in candidates), default=0.0)
    cut = RELATIVE_FLOOR * top if floor is None else floor
    # The reranker's first statute articles stay even when they share few words with the question
    # (the governing rule is often worded unlike it: 民法典第一百五十三条 for a waiver of social
    # insurance); documents and cards, which the reranker was not trained to order, and the tail
    # must pass the word-overlap floor.
    sources = [c for i, c in enumerate(candidates)
               if (i == 0 and fitting_card)
               or (i < KEEP_RANKED and floor is None and c.unit.article_no)
               or (c.relevance >= cut and c.relevance > 0)]
    if sources and sources[0].unit.level == QA_LEVEL:
        refs = sources[0].unit.extra.get("article_refs") or []
        # quoted where they say what the card says: 社会保险法第五十八条's employer registration for the
        # card on 自愿放弃社保, not its paragraph on the self-employed, which shares the word 自愿
        card = body(sources[0].unit)
        basis = [make_source(kb, 0, h, question, keep, words=card) for r in refs
                 for h in kb.article(r["law"], r["article"])[:1]]
        first: dict[str, Source] = {}  # an article that is also a hit keeps its quote as the card's basis
        for src in sources[:1] + basis + sources[1:]:
            first.setdefault(src.unit.uid, src)
        sources = list(first.values())
    for src in sources:
        src.far = not _close_to_lead(src.hit, hits)
    # far ones after the rest (stable): named to look up, never quoted as if they applied
    return numbered(sorted(sources, key=lambda src: src.far)[:limit])
