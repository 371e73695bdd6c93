"""Learned components, trained from ../shared/eval (never from the sealed holdout).

`make learn` (`python -m bot.lab.learn --data …/lecoqa_dev.json --data …/lawbench_3-2_scene_article.json`)
rebuilds bot/data/reranker.json (the reranker's weights, priors and learned vocabulary) and
prints its k-fold cross-validated figures; `bot.lab.eval` uses the same folds, drawn over all the
training files, when it scores a file the reranker was trained on, so no question is ever scored
by a model that saw it.
"""
from __future__ import annotations

import hashlib
import math
from collections import Counter
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np

from ...retrieval import querymap
from ...retrieval.candidates import SearchConfig
from ...retrieval.expansion import LEVELS, Expansion, article_id
from ...retrieval.querymap import QueryMap
from ...retrieval.rerank import Candidates, Priors, Reranker, features, fit
from ...retrieval.search import Filters, KnowledgeBase
from ...text import normalize, tokenize
from ..data import load_questions, resolve_gold

FOLDS = 5
SEED = 13


@dataclass
class Sample:
    """One training question: its first-stage candidates and which of them are gold."""

    candidates: Candidates
    law_named: np.ndarray
    gold: set[tuple[str, str]]
    labels: np.ndarray


def file_sha1(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()


def fold_of(n: int, k: int = FOLDS, seed: int = SEED) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, k, n)


def vocabulary_targets(kb: KnowledgeBase, gold: set[tuple[str, str]]) -> dict[str, set[str]]:
    """The learned-vocabulary targets (`expansion.LEVELS`) of gold (law, article key) pairs."""
    rows = [r[0] for g in gold if (r := kb.catalog.article_rows(*g))]
    return {"article": {article_id(*g) for g in gold},
            "chapter": {kb.catalog.columns["chapter"][r] for r in rows},
            "law": {g[0] for g in gold}}


def left_out_scores(vocabulary: dict[str, Expansion], tokens: list[str],
                    targets: dict[str, set[str]]) -> dict[str, dict[str, float]]:
    """`candidates.vocabulary_scores` for a training question, its own words left out of its own
    targets (`Expansion.scores`): a question never finds its answer through its own words."""
    return {level: learned.scores(tokens, (tokens, targets[level])) for level, learned in vocabulary.items()}


def collect(kb: KnowledgeBase, questions, vocabulary: dict[str, Expansion] | None = None,
            config: SearchConfig | None = None, query_maps: list[QueryMap] | None = None) -> list[Sample | None]:
    """First-stage candidates for each question (None where no gold article is in the index).
    With `vocabulary` (learned from these same questions) each question's own words are left
    out; `query_maps` gives each question's query map (one fitted without it)."""
    cfg = config or SearchConfig()
    mask = kb.catalog.mask(Filters())
    laws, keys = kb.catalog.columns["law_norm"], kb.catalog.columns["article_key"]
    out: list[Sample | None] = []
    for i, q in enumerate(questions):
        gold = set(q.gold)
        text = normalize(q.text)
        if not gold or not text:
            out.append(None)
            continue
        tokens = tokenize(text)
        c = kb.candidate_stage.candidates(
            text, tokens, mask, cfg,
            by_target=left_out_scores(vocabulary, tokens, vocabulary_targets(kb, gold)) if vocabulary else None,
            query_map=query_maps[i] if query_maps else None, second=True)
        named = set(kb.aliases.laws_named(text))
        cand_keys = list(zip(laws[c.positions], keys[c.positions]))
        out.append(Sample(c, np.array([k[0] in named for k in cand_keys], dtype=np.float64), gold,
                          np.array([k in gold for k in cand_keys], dtype=np.float64)))
    return out


def learn_vocabulary(kb: KnowledgeBase, questions) -> dict[str, Expansion]:
    """The words people used, per gold article, chapter and law (`expansion.LEVELS`)."""
    pairs = [(tokenize(normalize(q.text)), vocabulary_targets(kb, set(q.gold))) for q in questions if q.gold]
    return {level: Expansion.learn((tokens, targets[level]) for tokens, targets in pairs) for level in LEVELS}


_QUESTION_VECTORS: dict[tuple[str, str], np.ndarray] = {}  # (model, text): training embeds each question many times


def fit_query_map(kb: KnowledgeBase, questions) -> QueryMap:
    """The query map (`querymap`) from `questions` to their gold articles among the current ones."""
    catalog = kb.catalog
    rows = np.flatnonzero(catalog.mask(Filters()) & (catalog.columns["article_key"] != ""))
    where = {r: i for i, r in enumerate(rows.tolist())}
    gold = [[where[r] for g in q.gold for r in catalog.article_rows(*g) if r in where] for q in questions]
    vectors = []
    for q in questions:
        key = (kb.embedder.name, normalize(q.text))
        if key not in _QUESTION_VECTORS:
            _QUESTION_VECTORS[key] = kb.embedder.encode_query(key[1] or q.text)
        vectors.append(_QUESTION_VECTORS[key])
    queries = np.stack(vectors) if vectors else np.zeros((0, kb.embedder.dim), np.float32)
    return querymap.fit(kb.embedder.name, queries, gold, kb.backend.vectors(rows), seed=SEED)


def fit_reranker(kb: KnowledgeBase, questions) -> Reranker:
    """Everything learned from `questions`: vocabularies, query map, priors and weights.
    A training question's candidates come from a query map fitted without it (inner folds),
    as its vocabulary scores leave its own words out: else the reranker would learn to trust
    a dense score that had already seen the answer."""
    vocabulary = learn_vocabulary(kb, questions)
    inner = fold_of(len(questions), seed=SEED + 1)
    maps = {f: fit_query_map(kb, [q for q, g in zip(questions, inner) if g != f]) for f in range(FOLDS)}
    samples = collect(kb, questions, vocabulary, query_maps=[maps[g] for g in inner])
    return train(kb, [s for s in samples if s is not None], vocabulary, fit_query_map(kb, questions))


def fold_rerankers(kb: KnowledgeBase, questions) -> tuple[np.ndarray, dict[int, Reranker]]:
    """(fold of each question, a reranker per fold trained on the other folds only)."""
    fold = fold_of(len(questions))
    return fold, {f: fit_reranker(kb, [q for q, g in zip(questions, fold) if g != f]) for f in range(FOLDS)}


def train(kb: KnowledgeBase, samples: list[Sample], vocabulary: dict[str, Expansion] | None = None,
          query_map: QueryMap | None = None) -> Reranker:
    """Fit the reranker. A training question's priors leave out its own gold articles, or the
    model would learn that "seen in training" means "is the answer"."""
    priors = Priors(dict(Counter(g[0] for s in samples for g in s.gold)),
                    dict(Counter(f"{g[0]}:{g[1]}" for s in samples for g in s.gold)))
    laws, keys = kb.catalog.columns["law_norm"], kb.catalog.columns["article_key"]
    groups, second_groups = [], []
    for s in samples:
        if not s.labels.any():  # no gold among the candidates: nothing to learn about ranking
            continue
        pos = s.candidates.positions
        own_laws = Counter(g[0] for g in s.gold)
        law_p = np.array([math.log1p(priors.laws.get(x, 0) - own_laws[x]) for x in laws[pos]])
        art_p = np.array([math.log1p(priors.articles.get(f"{x}:{k}", 0) - ((x, k) in s.gold))
                          for x, k in zip(laws[pos], keys[pos])])
        groups.append((features(s.candidates, law_p, art_p, s.law_named, second=False), s.labels))
        if s.candidates.second is not None:
            second_groups.append((features(s.candidates, law_p, art_p, s.law_named), s.labels))
    # the second weights when the knowledge base has the second encoder's vectors (bot.index.second)
    second = fit(second_groups) if second_groups and len(second_groups) == len(groups) else None
    return Reranker(fit(groups), priors, vocabulary or {}, query_map=query_map, second_weights=second,
                    second_embedding=kb.settings.second_model if second else "")


def trained_on(files: list[tuple[Path, int]]) -> dict:
    """What a reranker was trained on: each file (name, sha1, questions), in training order."""
    return {"files": [{"file": p.name, "sha1": file_sha1(p), "questions": n} for p, n in files],
            "date": date.today().isoformat(), "folds": FOLDS, "seed": SEED}


TRAINABLE = ("lecoqa", "lawbench-3-2")  # kinds whose questions name their gold articles


def training_questions(kb: KnowledgeBase, paths: list[Path]) -> tuple[list, list[tuple[Path, int]]]:
    """The questions of all training files, in order, gold resolved against the index, and
    (file, question count) for `trained_on`. Folds are drawn over this combined list."""
    questions, files = [], []
    for path in paths:
        kind, qs = load_questions(path)
        if kind not in TRAINABLE:
            raise ValueError(f"{path.name}: 训练需要 LeCoQA 或 LawBench 3-2 格式（问题带有所依据的条文）")
        questions += resolve_gold(kb, qs)
        files.append((path, len(qs)))
    return questions, files
