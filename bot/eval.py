"""Retrieval evaluation on LeCoQA-style and LawBench files.

Data formats (detected per file):
* LeCoQA: a JSON list of {"问题": …, "相关法规": {"中华人民共和国民法典第九百六十七条": text, …}}
* LawBench 1-1 / 3-2: a JSON list of {"question": …, "answer": …}; the gold article is the one
  the question (1-1, exact lookup) or the answer (3-2, where it names one) cites.

recall@k is the share of a question's gold articles found in the top k, averaged over questions
with at least one gold article in the index (`recall_all@10` counts every gold article); MRR is the
reciprocal rank of the first gold article; coverage is the share of gold articles the index holds.
"""
from __future__ import annotations

import json
import re
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from .lawnames import norm_title
from .numerals import ARTICLE_RE, cn_to_int
from .retrieval.search import Filters, KnowledgeBase, SearchConfig

KS = (1, 5, 10, 20)
METHODS = {"bm25": ("bm25",), "dense": ("dense",), "pipeline": ("exact", "bm25", "dense")}
_GOLD = re.compile(r"^(.*?)(第[零〇一二两三四五六七八九十百千\d]+条(?:之[一二三四五六七八九十]+)?)")


@dataclass
class Question:
    text: str
    gold: list[tuple[str, str]]  # (normalised law title, article key "82" / "120-1")


def _key(article: str) -> str:
    m = ARTICLE_RE.search(article)
    if not m:
        return ""
    sub = cn_to_int(m.group(2)) if m.group(2) else None
    return f"{cn_to_int(m.group(1))}" + (f"-{sub}" if sub else "")


def parse_gold(ref: str) -> tuple[str, str] | None:
    """'中华人民共和国民法典第五十四条' -> ('民法典', '54'); '《劳动合同法》第十条' likewise."""
    m = _GOLD.match(norm_title(ref))
    return (m.group(1), _key(m.group(2))) if m and m.group(1) else None


def load_questions(path: Path) -> tuple[str, list[Question]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, list) or not data:
        raise ValueError(f"{path}: 需要一个非空的 JSON 列表")
    first = data[0]
    if "问题" in first:
        qs = [Question(d["问题"], [g for r in d.get("相关法规", {}) if (g := parse_gold(r))]) for d in data]
        return "lecoqa", qs
    kind = "lawbench-1-1" if "内容是什么" in first.get("question", "") else "lawbench-3-2"
    qs = []
    for d in data:
        where = d["question"] if kind == "lawbench-1-1" else d["answer"]
        m = re.search(r"《?([^《》，。：:\s]{2,40}?)》?(第[零一二三四五六七八九十百千\d]+条(?:之[一二三四五六七八九十]+)?)", where)
        if m:
            qs.append(Question(d["question"], [(norm_title(m.group(1)), _key(m.group(2)))]))
    return kind, qs


def _unit_key(hit) -> tuple[str, str]:
    u = hit.unit
    sub = u.extra.get("sub_no")
    return norm_title(u.law), (f"{u.article_no}" + (f"-{sub}" if sub else "")) if u.article_no else ""


def evaluate(kb: KnowledgeBase, questions: list[Question], methods: list[str], k: int = 20,
             config: SearchConfig | None = None, filters: Filters | None = None) -> list[dict]:
    present_keys = _present(kb)
    resolved = [Question(q.text, [_resolve(kb, g) for g in q.gold]) for q in questions]
    results = []
    for method in methods:
        per_q, lat, all_recall = {f"recall@{n}": [] for n in KS}, [], []
        rr = []
        for q in resolved:
            if not q.gold:
                continue
            present = [g for g in q.gold if g in present_keys]
            t = time.perf_counter()
            hits = kb.search(q.text, k=k, filters=filters, config=config, methods=METHODS[method])
            lat.append((time.perf_counter() - t) * 1000)
            keys = [_unit_key(h) for h in hits]
            all_recall.append(len(set(keys[:10]) & set(q.gold)) / len(set(q.gold)))
            if not present:
                continue
            for n in KS:
                per_q[f"recall@{n}"].append(len(set(keys[:n]) & set(present)) / len(set(present)))
            rank = next((i + 1 for i, key in enumerate(keys) if key in present), None)
            rr.append(1 / rank if rank else 0.0)
        golds = [g for q in resolved for g in q.gold]
        row = {"method": method, "queries": len(rr),
               "coverage": round(sum(g in present_keys for g in golds) / max(len(golds), 1), 4)}
        row.update({name: round(statistics.fmean(v), 4) if v else 0.0 for name, v in per_q.items()})
        row["recall_all@10"] = round(statistics.fmean(all_recall), 4) if all_recall else 0.0
        row["mrr"] = round(statistics.fmean(rr), 4) if rr else 0.0
        row["p50_ms"] = round(statistics.median(lat), 2) if lat else 0.0
        row["p95_ms"] = round(statistics.quantiles(lat, n=20)[-1], 2) if len(lat) > 1 else row["p50_ms"]
        results.append(row)
    return results


def _present(kb: KnowledgeBase) -> set[tuple[str, str]]:
    """(law, article) keys of every unit in the index, under the current default filter."""
    rows = kb.store.columns("law_norm", "article_no", "sub_no")
    allowed = set(kb.ids[kb.mask(Filters())].tolist())
    return {(r["law_norm"], f"{r['article_no']}" + (f"-{r['sub_no']}" if r["sub_no"] else ""))
            for r in rows if r["article_no"] and r["id"] in allowed}


def _resolve(kb: KnowledgeBase, gold: tuple[str, str]) -> tuple[str, str]:
    """Map the gold's law name to the index's title for it (aliases, prefixes like 民法商法…)."""
    law = kb.aliases.resolve(gold[0]) or kb.aliases.law_ending(gold[0]) or gold[0]
    return law, gold[1]
