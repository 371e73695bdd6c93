"""Answer-level evaluation.

* LeCoQA-format files: does the answer cite a gold article (among questions whose gold the
  index holds), how many citations in final answers do not resolve (must be 0), how often it
  abstains, and how long it takes.
* Multi-turn files (bot/answer/data/multiturn.json: {"turns": [first, follow-up], "gold": […]}):
  recall@10 of retrieval for the first turn, for the follow-up as rewritten with the history,
  and for the follow-up taken alone (what rewriting saves).
"""
from __future__ import annotations

import json
import re
import statistics
import time
from pathlib import Path

from ..answer.models import Answer
from ..answer.pipeline import AnswerPipeline
from ..lawnames import norm_title, parse_reference
from ..numerals import ARTICLE_RE, article_key, parse_article
from ..retrieval.search import Filters
from .data import load_questions, present_keys, resolve, resolve_gold
from .eval import cross_validation, in_fold_order

_CITED = re.compile(rf"《([^《》]{{2,80}})》\s*({ARTICLE_RE.pattern})")


def _key(law: str, article: str) -> tuple[str, str]:
    parsed = parse_article(article)
    return norm_title(law), article_key(*parsed) if parsed else ""


def fabricated(pipeline: AnswerPipeline, ans: Answer) -> int:
    """Citations in a final answer that the knowledge base cannot resolve: listed ones whose
    unit is missing, and 《…》第N条 in the text that name no article of the base."""
    kb, every = pipeline.kb, Filters(status=["all"])
    listed = sum(1 for c in ans.citations if c.article.startswith("第") and not kb.article(c.law, c.article, every))
    written = sum(1 for m in _CITED.finditer(ans.answer) if not kb.article(m.group(1), m.group(2), every))
    return listed + written


def _percentiles(ms: list[float]) -> dict:
    if not ms:
        return {"p50_ms": 0.0, "p95_ms": 0.0}
    p95 = statistics.quantiles(ms, n=20)[-1] if len(ms) > 1 else ms[0]
    return {"p50_ms": round(statistics.median(ms), 1), "p95_ms": round(p95, 1)}


def evaluate_answers(pipeline: AnswerPipeline, path: Path, limit: int | None = None, audience: str = "resident") -> dict:
    """Answer figures; cross-validated (`"cv": true`) when the shipped reranker was trained on the
    file, as in retrieval evaluation."""
    kb = pipeline.kb
    present = present_keys(kb)
    _, questions = load_questions(path)
    folds = cross_validation(kb, resolve_gold(kb, questions), path)
    questions = questions[:limit] if limit else questions
    hit, scored, fabricated_total, removed, abstained, ms = 0, 0, 0, 0, 0, []
    for i in in_fold_order(kb, folds, len(questions)):
        q = questions[i]
        t = time.perf_counter()
        ans = pipeline.ask(q.text, audience=audience)
        ms.append((time.perf_counter() - t) * 1000)
        abstained += ans.abstained
        fabricated_total += fabricated(pipeline, ans)
        removed += len(ans.removed_citations)
        gold = {resolve(kb, g) for g in q.gold} & present
        if gold:
            scored += 1
            hit += bool({_key(c.law, c.article) for c in ans.citations} & gold)
    return {"questions": len(questions), "scored": scored, "gold_citation_rate": round(hit / max(scored, 1), 4),
            "fabricated_citations": fabricated_total, "removed_citations": removed,
            "abstain_rate": round(abstained / max(len(questions), 1), 4), **_percentiles(ms), "cv": folds is not None}


def evaluate_multiturn(pipeline: AnswerPipeline, path: Path, limit: int | None = None, k: int = 10) -> dict:
    kb = pipeline.kb
    convs = json.loads(path.read_text(encoding="utf-8"))[:limit]
    recall = {"turn1": [], "turn2": [], "turn2_alone": []}
    ms = []
    for conv in convs:
        first, follow = conv["turns"][:2]
        gold = {resolve(kb, g) for ref in conv["gold"] if (g := parse_reference(ref))}
        t = time.perf_counter()
        ans1 = pipeline.ask(first)
        ans2 = pipeline.ask(follow, [(ans1.rewritten_question, ans1.answer)])
        ms.append((time.perf_counter() - t) * 1000 / 2)
        for name, query, context in (("turn1", first, ""), ("turn2", ans2.rewritten_question, first), ("turn2_alone", follow, "")):
            keys = {_key(h.unit.law, h.unit.article) for h in kb.search(query, k=k, context=context)}
            recall[name].append(len(keys & gold) / len(gold))
    out = {"conversations": len(convs)}
    out.update({f"{name}_recall@{k}": round(statistics.fmean(v), 4) if v else 0.0 for name, v in recall.items()})
    out["turn2_vs_turn1"] = round(out[f"turn2_recall@{k}"] / max(out[f"turn1_recall@{k}"], 1e-9), 4)
    return out | _percentiles(ms)


def run(pipeline: AnswerPipeline, path: Path, limit: int | None = None, audience: str = "resident") -> dict:
    """The evaluation the file's format calls for."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if data and isinstance(data, list) and "turns" in data[0]:
        return evaluate_multiturn(pipeline, path, limit)
    return evaluate_answers(pipeline, path, limit, audience)
