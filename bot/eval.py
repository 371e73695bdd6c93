"""Retrieval evaluation on LeCoQA-style and LawBench files.

Data formats (detected per file):
* LeCoQA: a JSON list of {"问题": …, "相关法规": {"中华人民共和国民法典第九百六十七条": text, …}}
* LawBench 1-1 / 3-2: a JSON list of {"question": …, "answer": …}; the gold article is the one
  the question (1-1, exact lookup) or the answer (3-2, where it names one) cites.

recall@k is the share of a question's gold articles found in the top k, averaged over questions
with at least one gold article in the index (`recall_all@10` counts every gold article); MRR is the
reciprocal rank of the first gold article; coverage is the share of gold articles the index holds.
Ranks count article units only: a Q&A or policy card in the results is shown to people but is
never a gold answer, so it is skipped rather than counted as a miss.
"""
from __future__ import annotations

import json
import re
import statistics
import time
import weakref
from dataclasses import dataclass
from pathlib import Path

from .lawnames import norm_title, parse_reference
from .numerals import article_key
from . import learn
from .retrieval.search import Filters, KnowledgeBase, SearchConfig

KS = (1, 5, 10, 20)
# method -> (search methods, use the reranker)
METHODS = {"bm25": (("bm25",), False), "dense": (("dense",), False),
           "fusion": (("exact", "bm25", "dense"), False), "pipeline": (("exact", "bm25", "dense"), True)}


@dataclass
class Question:
    text: str
    gold: list[tuple[str, str]]  # (normalised law title, article key "82" / "120-1")


def load_questions(path: Path) -> tuple[str, list[Question]]:
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


def _unit_key(hit) -> tuple[str, str]:
    return norm_title(hit.unit.law), article_key(hit.unit.article_no, hit.unit.sub_no)


def evaluate(kb: KnowledgeBase, questions: list[Question], methods: list[str], k: int = 20,
             filters: Filters | None = None, data_path: Path | None = None) -> list[dict]:
    """One row of figures per method. When the shipped reranker was trained on `data_path`,
    the pipeline row is k-fold cross-validated (`"cv": true`): each fold is scored by a
    reranker trained on the other folds."""
    present_keys = _present(kb)
    resolved = resolve_gold(kb, questions)
    folds = cross_validation(kb, resolved, data_path) if "pipeline" in methods else None
    results = []
    for method in methods:
        search_methods, rerank = METHODS[method]
        cfg = SearchConfig(rerank=rerank)
        per_q, lat, all_recall, rr = {f"recall@{n}": [] for n in KS}, [], [], []
        for i in in_fold_order(kb, folds if rerank else None, len(resolved)):
            q = resolved[i]
            if not q.gold:
                continue
            present = [g for g in q.gold if g in present_keys]
            t = time.perf_counter()
            hits = kb.search(q.text, k=k + 10, filters=filters, config=cfg, methods=search_methods)
            lat.append((time.perf_counter() - t) * 1000)
            # gold answers are articles: Q&A and policy cards among the hits neither count nor take a rank
            keys = [key for h in hits if (key := _unit_key(h))[1]][:k]
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
        row["cv"] = bool(rerank and folds is not None)
        results.append(row)
    return results


def in_fold_order(kb: KnowledgeBase, folds, n: int):
    """Indices 0..n-1 to score; with `folds` (from `cross_validation`) grouped by fold, each group
    scored while its fold's reranker is set (set once per fold: it recomputes per-unit priors),
    the shipped one restored afterwards."""
    if folds is None:
        yield from range(n)
        return
    fold, rerankers = folds
    shipped = kb.reranker
    try:
        for f in sorted(rerankers):
            kb.set_reranker(rerankers[f])
            yield from (i for i in range(n) if fold[i] == f)
    finally:
        kb.set_reranker(shipped)


# knowledge base -> training files' sha1s -> (file counts, folds, fold rerankers): the fold
# rerankers depend only on the index and the files, and take minutes to fit, so evaluating
# each training file (as `bot.learn` does) fits them once
_FOLD_RERANKERS: "weakref.WeakKeyDictionary[KnowledgeBase, dict]" = weakref.WeakKeyDictionary()


def cross_validation(kb: KnowledgeBase, resolved: list[Question], data_path: Path | None):
    """(fold of each of `resolved`, reranker per fold) when the shipped reranker was trained on
    `data_path`, so that no question is scored by a model that saw it; else None. The folds are
    those of the whole training set (every file it was trained on, read from `data_path`'s
    folder): each fold's reranker is retrained on the other folds of all files."""
    shipped = kb.reranker
    if shipped is None or data_path is None:
        return None
    files = shipped.trained_on.get("files", [])
    sha1s, names = [f["sha1"] for f in files], [f["file"] for f in files]
    sha1 = learn.file_sha1(data_path)
    if sha1 not in sha1s:
        return None
    paths = [data_path.parent / name for name in names]
    if any(not p.exists() or learn.file_sha1(p) != f["sha1"] for p, f in zip(paths, files)):
        raise ValueError(f"重排模型训练用的文件（{'、'.join(names)}）须与 {data_path.name} 在同一目录且未改动，才能做交叉验证")
    done = _FOLD_RERANKERS.setdefault(kb, {})
    if tuple(sha1s) not in done:
        kb.set_reranker(None)
        try:
            questions, counts = learn.training_questions(kb, paths)
            done[tuple(sha1s)] = (counts, *learn.fold_rerankers(kb, questions))
        finally:
            kb.set_reranker(shipped)
    counts, fold, rerankers = done[tuple(sha1s)]
    start = sum(n for _, n in counts[: sha1s.index(sha1)])
    return fold[start:start + len(resolved)], rerankers


def resolve_gold(kb: KnowledgeBase, questions: list[Question]) -> list[Question]:
    return [Question(q.text, [_resolve(kb, g) for g in q.gold]) for q in questions]


def _present(kb: KnowledgeBase) -> set[tuple[str, str]]:
    """(law, article) keys of every unit in the index, under the current default filter."""
    rows = kb.store.columns("law_norm", "article_no", "sub_no")
    allowed = set(kb.ids[kb.mask(Filters())].tolist())
    return {(r["law_norm"], article_key(r["article_no"], r["sub_no"])) for r in rows if r["article_no"] and r["id"] in allowed}


def _resolve(kb: KnowledgeBase, gold: tuple[str, str]) -> tuple[str, str]:
    """Map the gold's law name to the index's title for it (aliases, prefixes like 民法商法…)."""
    law = kb.aliases.resolve(gold[0]) or kb.aliases.law_ending(gold[0]) or gold[0]
    return law, gold[1]
