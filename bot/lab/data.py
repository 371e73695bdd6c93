"""Evaluation and training questions: the data formats, and gold articles resolved against an index.

Data formats (detected per file):
* LeCoQA: a JSON list of {"问题": …, "相关法规": {"中华人民共和国民法典第九百六十七条": text, …}}
* LawBench 1-1 / 3-2: a JSON list of {"question": …, "answer": …}; the gold article is the one
  the question (1-1, exact lookup) or the answer (3-2, where it names one) cites.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from ..lawnames import norm_title, parse_reference
from ..numerals import article_key
from ..retrieval.search import Filters, KnowledgeBase


@dataclass
class Question:
    text: str
    gold: list[tuple[str, str]]  # (normalised law title, article key "82" / "120-1")


def load_questions(path: Path) -> tuple[str, list[Question]]:
    """(kind, questions) of a file: kind is "lecoqa", "lawbench-1-1" or "lawbench-3-2"."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, list) or not data:
        raise ValueError(f"{path}: 需要一个非空的 JSON 列表")
    first = data[0]
    if "问题" in first:
        qs = [Question(d["问题"], [g for r in d.get("相关法规", {}) if (g := parse_reference(r))]) for d in data]
        return "lecoqa", qs
    kind = "lawbench-1-1" if "内容是什么" in first.get("question", "") else "lawbench-3-2"
    qs = []
    for d in data:
        where = d["question"] if kind == "lawbench-1-1" else d["answer"]
        m = re.search(r"《?([^《》，。：:\s]{2,40}?)》?(第[零一二三四五六七八九十百千\d]+条(?:之[一二三四五六七八九十]+)?)", where)
        if m:
            qs.append(Question(d["question"], [parse_reference(m.group(1) + m.group(2))]))
    return kind, qs


def resolve(kb: KnowledgeBase, gold: tuple[str, str]) -> tuple[str, str]:
    """Map the gold's law name to the index's title for it (aliases, prefixes like 民法商法…)."""
    law = kb.aliases.resolve(gold[0]) or kb.aliases.law_ending(gold[0]) or gold[0]
    return law, gold[1]


def resolve_gold(kb: KnowledgeBase, questions: list[Question]) -> list[Question]:
    """The questions with every gold article's law resolved against the index (`resolve`)."""
    return [Question(q.text, [resolve(kb, g) for g in q.gold]) for q in questions]


def present_keys(kb: KnowledgeBase) -> set[tuple[str, str]]:
    """(law, article) keys of every unit in the index, under the current default filter."""
    rows = kb.store.columns("law_norm", "article_no", "sub_no")
    allowed = set(kb.catalog.ids[kb.catalog.mask(Filters())].tolist())
    return {(r["law_norm"], article_key(r["article_no"], r["sub_no"])) for r in rows if r["article_no"] and r["id"] in allowed}


def unit_key(unit) -> tuple[str, str]:
    """(normalised law title, article key) of a unit, the form gold articles are compared in."""
    return norm_title(unit.law), article_key(unit.article_no, unit.sub_no)
