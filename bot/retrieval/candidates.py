"""First stage: the candidates a question brings up, with every candidate's evidence.

Top BM25, dense and learned-vocabulary units (and, with a query map, dense with the mapped
question), fused by RRF or a weighted sum, each with its scores and ranks per method, and (once
its vectors are there, bot.index.second) each candidate's cosine with the question by the second
encoder, for the reranker (`rerank`) to order.
"""
from __future__ import annotations

import contextvars
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from . import fusion
from ..index.second import SecondVectors
from .backends import InMilvus, InProcess
from .catalog import Catalog
from .expansion import Expansion, article_id
from .querymap import QueryMap
from .rerank import Candidates

# the column naming a unit's learned-vocabulary target at chapter and law level
VOCAB_COLUMNS = {"chapter": "chapter", "law": "law_norm"}


@dataclass
class SearchConfig:
    """Knobs of the hybrid search, kept as data so eval can compare settings."""

    candidates: int = 150
    method: str = "rrf"  # or "weighted"
    weights: dict[str, float] = field(default_factory=lambda: {"bm25": 1.0, "dense": 1.0})
    rrf_k: int = 60
    rerank: bool = True  # use the learned reranker (and its learned vocabulary) when one is loaded
    expansion_candidates: int = 50  # articles added by the learned vocabulary alone


def vocabulary_scores(vocabulary: dict[str, Expansion], tokens: list[str]) -> dict[str, dict[str, float]]:
    """Per level of the learned vocabulary (`expansion.LEVELS`), each target's score for the question."""
    return {level: learned.scores(tokens) for level, learned in vocabulary.items()}


class CardCitations:
    """Every card's cited articles laid out flat, grouped by card, so that each card's best
    cited-article score is one `np.maximum.reduceat` per question instead of a Python loop over
    every card (≈ 2 ms of an answer's CPU, 2026-12-04)."""

    def __init__(self, cites: dict[int, list[tuple[str, str]]]):
        self.rows = np.array(list(cites), dtype=np.int64)  # every card's row, citing or not
        citing, starts, self.slots = [], [], {}
        n = 0
        for pos, refs in enumerate(cites.values()):
            if not refs:
                continue
            citing.append(pos)
            starts.append(n)
            for ref in refs:
                self.slots.setdefault(article_id(*ref), []).append(n)
                n += 1
        self.citing, self.starts, self.n = np.array(citing, dtype=np.int64), np.array(starts, dtype=np.int64), n

    def best(self, by_article: dict[str, float]) -> np.ndarray:
        """Per card (`rows`), the best score among the articles it cites (0 for none scored)."""
        values = np.zeros(self.n)
        for art, score in by_article.items():
            if (slots := self.slots.get(art)) is not None:
                values[slots] = score
        out = np.zeros(len(self.rows))
        if self.n:
            out[self.citing] = np.maximum.reduceat(values, self.starts)
        return out


# one pool for every knowledge base of the process (each reload opens a new one): two questions at a time
_QUERY_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="farun-second-query")


class SecondEncoder:
    """The second encoder's vectors in catalog row order (bot.index.second) and its question
    encoder: a cosine per candidate, for the reranker only (it brings no candidates).

    The question is encoded on a worker thread while the first stage runs: e5 takes ~30 ms a
    question on one core, the first stage 8–16 ms, and the encoder (C, through ctypes) releases
    the GIL."""

    def __init__(self, catalog: Catalog, vectors: SecondVectors, embedder):
        self.embedder = embedder
        self.matrix = np.zeros((len(catalog), vectors.vectors.shape[1]), np.float16)
        self.matrix[catalog.rows(vectors.ids)] = vectors.vectors

    def start(self, q: str) -> Future:
        """The question's vector, being encoded (within the caller's context: one vector per answer)."""
        return _QUERY_POOL.submit(contextvars.copy_context().run, self.embedder.encode_query, q)

    def cosine(self, vector: Future, positions: np.ndarray) -> np.ndarray:
        return self.matrix[positions].astype(np.float32) @ np.asarray(vector.result(), np.float32)

    @classmethod
    def open(cls, catalog: Catalog, vectors: SecondVectors | None, embedder) -> "SecondEncoder | None":
        """None without vectors, or with vectors of other units than the catalog's (never mixed)."""
        if vectors is None or len(vectors.ids) != len(catalog) or not np.array_equal(np.sort(vectors.ids), catalog.ids):
            return None
        return cls(catalog, vectors, embedder)


class CandidateStage:
    def __init__(self, catalog: Catalog, backend: InProcess | InMilvus, embedder, second: SecondEncoder | None = None):
        """`backend`: where the BM25 and dense searches run (`backends`, FARUN_INDEX_BACKEND)."""
        self.catalog, self.backend, self.embedder, self.second = catalog, backend, embedder, second
        self.card_citations = CardCitations(catalog.cites)

    def candidates(self, q: str, tokens: list[str], mask: np.ndarray, cfg: SearchConfig,
                   methods=("bm25", "dense"), by_target: dict[str, dict[str, float]] | None = None,
                   query_map: QueryMap | None = None, second: bool = False) -> Candidates:
        """Top BM25, dense and learned-vocabulary units among those the mask allows, fused, with
        every candidate's scores; dense search also with the question's vector mapped by
        `query_map`. `by_target`: the learned vocabulary's scores (`vocabulary_scores`); `second`:
        with the second encoder's cosine too, where its vectors are there (the reranker reads it)."""
        ids_all, columns = self.catalog.ids, self.catalog.columns
        pending = self.second.start(q) if second and self.second else None
        by_target = by_target or {}
        rankings: dict[str, np.ndarray] = {}
        bm25_of = None
        if "bm25" in methods:
            rankings["bm25"], bm25_of = self.backend.bm25(tokens, mask, cfg.candidates)
        expansion_all = np.zeros(len(ids_all))
        if "article" in by_target:
            expansion_all = np.where(mask, self._article_scores(by_target["article"]), 0.0)
            top = np.argsort(-expansion_all)[: cfg.expansion_candidates]
            rankings["expansion"] = ids_all[top[expansion_all[top] > 0]]
        raw = self.embedder.encode_query(q) if "dense" in methods else None
        mapped = query_map.apply(raw) if raw is not None and query_map is not None else None
        queries = {name: v for name, v in (("dense", raw), ("mapped", mapped)) if v is not None}
        if queries:
            rankings.update(zip(queries, self.backend.dense_top(list(queries.values()), mask, cfg.candidates)))
        ids = np.array(list(dict.fromkeys(np.concatenate([np.zeros(0, np.int64), *rankings.values()]).tolist())),
                       dtype=np.int64)
        pos = self.catalog.rows(ids)
        n = len(ids)

        def rank_of(name: str) -> np.ndarray:
            where = {u: r for r, u in enumerate(rankings.get(name, np.zeros(0, np.int64)).tolist())}
            return np.array([where.get(u, cfg.candidates) for u in ids.tolist()], dtype=np.float64)

        bm25 = bm25_of(pos) if bm25_of is not None else np.zeros(n)
        vectors = self.backend.vectors(pos) if raw is not None else None
        cosine = vectors @ raw if raw is not None else np.zeros(n)
        dense = vectors @ mapped if mapped is not None else cosine
        if cfg.method == "rrf":
            # the fused score is the text's own evidence (BM25 and the plain cosine): the learned
            # vocabulary and query map add candidates and reranker features, but cards are
            # ordered among themselves by text (`rerank.RerankStage`)
            fused_map = fusion.rrf({m: rankings[m] for m in ("bm25", "dense") if m in rankings}, cfg.weights, cfg.rrf_k)
        else:
            fused_map = fusion.weighted({"bm25": dict(zip(ids.tolist(), bm25)), "dense": dict(zip(ids.tolist(), cosine))}
                                        if n else {}, cfg.weights)
        fused = np.array([fused_map.get(u, 0.0) for u in ids.tolist()])
        vocab_rows = self.catalog.vocab_rows[pos]
        chapter_vocab, law_vocab = (np.array([by_target.get(level, {}).get(t, 0.0) for t in columns[column][vocab_rows]])
                                    for level, column in VOCAB_COLUMNS.items())
        return Candidates(ids=ids, positions=pos, bm25=np.asarray(bm25, np.float64), dense=np.asarray(dense, np.float64),
                          bm25_rank=rank_of("bm25"), dense_rank=rank_of("mapped" if mapped is not None else "dense"),
                          fused=fused, laws=columns["law_norm"][pos], chapters=columns["chapter"][pos],
                          expansion=expansion_all[pos], expansion_rank=rank_of("expansion"),
                          chapter_vocab=chapter_vocab, law_vocab=law_vocab, cosine=np.asarray(cosine, np.float64),
                          length=float(np.log1p(len(q))),
                          second=self.second.cosine(pending, pos).astype(np.float64) if pending else None)

    def _article_scores(self, by_article: dict[str, float]) -> np.ndarray:
        """Per-unit array of learned-vocabulary scores; every version of an article shares its
        score, and a card takes the best of the articles it cites (as with the priors)."""
        out = np.zeros(len(self.catalog))
        for art, s in by_article.items():
            out[self.catalog.article_id_rows(art)] = s
        out[self.card_citations.rows] = self.card_citations.best(by_article)
        return out
