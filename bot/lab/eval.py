"""Retrieval evaluation on LeCoQA-style and LawBench files (formats: `bot.lab.data`).

recall@k is the share of a question's gold articles found in the top k, averaged over questions
with at least one gold article in the index (`recall_all@10` counts every gold article); MRR is the
reciprocal rank of the first gold article; coverage is the share of gold articles the index holds.
Ranks count article units only: a Q&A or policy card in the results is shown to people but is
never a gold answer, so it is skipped rather than counted as a miss.
"""
from __future__ import annotations

import hashlib
import pickle
import statistics
import time
import weakref
from pathlib import Path

from ..config import ROOT
from ..retrieval.rerank import PATH
from ..retrieval.search import Filters, KnowledgeBase, SearchConfig
from . import learn
from .data import Question, present_keys, resolve_gold, unit_key

KS = (1, 5, 10, 20)
# method -> (search methods, use the reranker)
METHODS = {"bm25": (("bm25",), False), "dense": (("dense",), False),
           "fusion": (("exact", "bm25", "dense"), False), "pipeline": (("exact", "bm25", "dense"), True)}


def evaluate(kb: KnowledgeBase, questions: list[Question], methods: list[str], k: int = 20,
             filters: Filters | None = None, data_path: Path | None = None) -> list[dict]:
    """One row of figures per method. When the shipped reranker was trained on `data_path`,
    the pipeline row is k-fold cross-validated (`"cv": true`): each fold is scored by a
    reranker trained on the other folds."""
    present = present_keys(kb)
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
            held = [g for g in q.gold if g in present]
            t = time.perf_counter()
            hits = kb.search(q.text, k=k + 10, filters=filters, config=cfg, methods=search_methods)
            lat.append((time.perf_counter() - t) * 1000)
            # gold answers are articles: Q&A and policy cards among the hits neither count nor take a rank
            keys = [key for h in hits if (key := unit_key(h.unit))[1]][:k]
            all_recall.append(len(set(keys[:10]) & set(q.gold)) / len(set(q.gold)))
            if not held:
                continue
            for n in KS:
                per_q[f"recall@{n}"].append(len(set(keys[:n]) & set(held)) / len(set(held)))
            rank = next((i + 1 for i, key in enumerate(keys) if key in held), None)
            rr.append(1 / rank if rank else 0.0)
        golds = [g for q in resolved for g in q.gold]
        row = {"method": method, "queries": len(rr),
               "coverage": round(sum(g in present for g in golds) / max(len(golds), 1), 4)}
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
# each training file (as `bot.lab.learn` does) fits them once
_FOLD_RERANKERS: "weakref.WeakKeyDictionary[KnowledgeBase, dict]" = weakref.WeakKeyDictionary()


# What fold rerankers are trained from besides the data and the index: the retrieval code, the
# training code, the tokenizer and its word lists (not the shipped reranker, which they replace).
_TRAINING_CODE = ("bot/retrieval/*.py", "bot/lab/learn/*.py", "bot/text.py", "bot/data/*")


def _fold_cache(kb: KnowledgeBase, sha1s: list[str]) -> Path:
    """Where the fold rerankers of these training files on this index are kept between runs:
    training them takes 15–20 minutes on two cores, answering with them a minute, and they stay
    the same until the data, the index (and whether it has the second encoder's vectors) or the
    training code change (all are in the name)."""
    second = kb.settings.second_model if kb.candidate_stage.second else ""  # trained with its vectors or not
    digest = hashlib.sha1("|".join([*sha1s, kb.manifest.fingerprint, second]).encode())
    for path in sorted(p for pattern in _TRAINING_CODE for p in ROOT.glob(pattern) if p.is_file() and p != PATH):
        digest.update(path.read_bytes())
    return kb.settings.data_dir / "lab" / f"folds-{digest.hexdigest()[:16]}.pickle"


def _load_folds(path: Path):
    """Fold rerankers this lab saved, or None (none yet, or unreadable: they are trained again)."""
    try:
        with path.open("rb") as f:
            return pickle.load(f)  # written by _save_folds on this machine, never taken from elsewhere
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError):
        return None


def _save_folds(path: Path, folds) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_suffix(".part")
    with part.open("wb") as f:
        pickle.dump(folds, f)
    part.replace(path)


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
    if tuple(sha1s) not in done and (kept := _load_folds(cache := _fold_cache(kb, sha1s))) is not None:
        done[tuple(sha1s)] = kept
    if tuple(sha1s) not in done:
        kb.set_reranker(None)
        try:
            questions, counts = learn.training_questions(kb, paths)
            done[tuple(sha1s)] = (counts, *learn.fold_rerankers(kb, questions))
        finally:
            kb.set_reranker(shipped)
        _save_folds(cache, done[tuple(sha1s)])
    counts, fold, rerankers = done[tuple(sha1s)]
    start = sum(n for _, n in counts[: sha1s.index(sha1)])
    return fold[start:start + len(resolved)], rerankers
