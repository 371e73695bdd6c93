"""The knowledge base opened for searching: store + dense + sparse + filters + citations.

`KnowledgeBase.search` is the one search path; the langchain retriever, the CLI, the eval and
the apps all call it.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import faiss
import numpy as np

from ..config import Settings
from ..embeddings import load_embeddings
from ..index import layout
from ..index.dense import DenseIndex
from ..index.sparse import SparseIndex
from ..index.store import UnitStore
from ..lawnames import norm_title, parse_reference
from ..numerals import ARTICLE_RE, article_key, cn_to_int
from ..text import MAX_QUERY_CHARS, add_words, normalize, tokenize
from ..units import CURRENT, Unit
from ..validity import status_on
from . import fusion
from .expansion import Expansion, article_id
from .querymap import QueryMap
from .rerank import Candidates, Reranker, features
from .citations import AliasTable, Citation, find_citations


def doc_number_key(text: str) -> str:
    """文号 in a comparable form: brackets unified, spaces dropped (财税[2019]13号 = 财税〔2019〕13号)."""
    return re.sub(r"\s+", "", text).replace("[", "〔").replace("]", "〕").replace("（", "〔").replace("）", "〕")


# the column naming a unit's learned-vocabulary target at chapter and law level
VOCAB_COLUMNS = {"chapter": "chapter", "law": "law_norm"}


class QueryError(ValueError):
    """A question that cannot be searched (empty, only punctuation …); the message says why."""


@dataclass
class Filters:
    """Which units may be returned. `status=None` means 现行有效 only; ["all"] lifts the filter."""

    level: list[str] = field(default_factory=list)
    law: list[str] = field(default_factory=list)
    status: list[str] | None = None
    region: list[str] = field(default_factory=list)
    source: list[str] = field(default_factory=list)


@dataclass
class Hit:
    id: int
    unit: Unit
    score: float
    parts: dict[str, float] = field(default_factory=dict)  # per-method scores and ranks
    exact: bool = False

    def to_json(self) -> dict:
        u = self.unit
        return {
            "unit_id": u.uid, "law": u.law, "article": u.article, "heading": u.heading_path,
            "chapter": u.chapter, "level": u.level, "status": u.status, "status_note": u.status_note,
            "valid_from": u.valid_from, "valid_to": u.valid_to, "issuer": u.issuer, "region": u.region,
            "doc_number": u.doc_number, "source": u.source, "citation": u.citation,
            "score": round(float(self.score), 6), "exact": self.exact, "text": u.text,
        }


@dataclass
class SearchConfig:
    """Knobs of the hybrid search, kept as data so eval can compare settings."""

    candidates: int = 150
    method: str = "rrf"  # or "weighted"
    weights: dict[str, float] = field(default_factory=lambda: {"bm25": 1.0, "dense": 1.0})
    rrf_k: int = 60
    rerank: bool = True  # use the learned reranker (and its learned vocabulary) when one is loaded
    expansion_candidates: int = 50  # articles added by the learned vocabulary alone


class KnowledgeBase:
    def __init__(self, folder: Path, settings: Settings, embedder=None):
        self.folder = folder
        self.settings = settings
        self.manifest = layout.Manifest.load(folder)
        if self.manifest.format != layout.FORMAT:
            raise layout.IndexUnavailable("索引格式已过时：请运行 python -m bot build 重建索引")
        if self.manifest.embedding != settings.embedding:
            raise layout.IndexUnavailable(
                f"索引是用向量模型 {self.manifest.embedding} 构建的，当前配置为 {settings.embedding}："
                f"请改回配置，或运行 python -m bot build 用新模型重建索引"
            )
        try:
            self.store = UnitStore(folder / layout.STORE, readonly=True, as_of=settings.as_of)
            self.dense = DenseIndex.load(folder)
            self.sparse = SparseIndex.load(folder)
            self._load_columns(settings.as_of)
        except Exception as exc:  # faiss/bm25s/sqlite raise many kinds; all mean the same to a user
            raise layout.IndexUnavailable(f"索引文件损坏或不完整（{exc}）：请运行 python -m bot build 重建") from exc
        self.embedder = embedder or load_embeddings(settings.embedding, settings.threads)
        if self.embedder.dim != self.dense.dim:
            raise layout.IndexUnavailable("索引向量维度与模型不符：请运行 python -m bot build 重建")
        self._load_vectors()
        self.set_reranker(Reranker.load())

    @classmethod
    def open(cls, settings: Settings | None = None, embedder=None) -> "KnowledgeBase":
        settings = settings or Settings.load()
        return cls(layout.current(settings.index_dir), settings, embedder)

    def _load_columns(self, day: date) -> None:
        rows = self.store.columns("law_norm", "level", "status", "valid_from", "valid_to", "ends_as", "region",
                                  "source", "aliases", "article_no", "sub_no", "doc_number", "extra", "chapter")
        self.ids = np.array([r["id"] for r in rows], dtype=np.int64)
        iso = day.isoformat()
        self.columns = {
            "law_norm": np.array([r["law_norm"] for r in rows], dtype=object),
            "level": np.array([r["level"] for r in rows], dtype=object),
            "status": np.array([status_on(r["status"], r["valid_from"], r["valid_to"], r["ends_as"], iso) for r in rows], dtype=object),
            "region": np.array([r["region"] for r in rows], dtype=object),
            "chapter": np.array([f"{r['law_norm']}/{r['chapter'] or ''}" for r in rows], dtype=object),
            "source": np.array([r["source"] for r in rows], dtype=object),
            "article_key": np.array([article_key(r["article_no"], r["sub_no"]) for r in rows], dtype=object),
        }
        names: dict[str, str] = {}
        for r in rows:
            names.setdefault(r["law_norm"], r["law_norm"])
            for a in json.loads(r["aliases"] or "[]"):
                names.setdefault(norm_title(a), r["law_norm"])
        self.aliases = AliasTable(names)
        # only non-article documents (policies) are looked up by 文号: a judicial
        # interpretation's 文号 would otherwise pull in every one of its articles
        self._doc_numbers = [(i, doc_number_key(r["doc_number"])) for i, r in enumerate(rows)
                             if r["doc_number"] and not r["article_no"]]
        add_words(list(names))
        self._current_mask = self.columns["status"] == CURRENT
        # what each card cites, as (law, article key): cards inherit their articles' priors
        self._cites = {i: [ref for c in json.loads(r["extra"] or "{}").get("articles", []) if (ref := parse_reference(c))]
                       for i, r in enumerate(rows) if r["level"] in ("问答", "政策")}
        self._article_rows: dict[str, list[int]] = {}
        for i, (law, key) in enumerate(zip(self.columns["law_norm"], self.columns["article_key"])):
            if key:
                self._article_rows.setdefault(article_id(law, key), []).append(i)
        # whose chapter and law vocabulary a unit is scored with: its own, or a card's first cited article's
        self._vocab_rows = np.arange(len(rows))
        for i, refs in self._cites.items():
            cited = [r for ref in refs for r in self.article_rows(*ref)]
            if cited:
                self._vocab_rows[i] = cited[0]

    def article_rows(self, law_norm: str, key: str) -> list[int]:
        """Rows (positions in the column arrays) of every version of an article."""
        return self._article_rows.get(article_id(law_norm, key), [])

    def vocabulary_targets(self, gold: set[tuple[str, str]]) -> dict[str, set[str]]:
        """The learned-vocabulary targets (`expansion.LEVELS`) of gold (law, article key) pairs."""
        rows = [r[0] for g in gold if (r := self.article_rows(*g))]
        return {"article": {article_id(*g) for g in gold},
                "chapter": {self.columns["chapter"][r] for r in rows},
                "law": {g[0] for g in gold}}

    def _load_vectors(self) -> None:
        """A zero-copy view of FAISS's stored vectors, in unit-id order, for scoring candidates."""
        flat = faiss.downcast_index(self.dense.index.index)
        n, d = flat.ntotal, flat.d
        vectors = faiss.rev_swig_ptr(flat.get_xb(), n * d).reshape(n, d)
        order = np.argsort(faiss.vector_to_array(self.dense.index.id_map))
        self.vectors = vectors if np.array_equal(order, np.arange(n)) else vectors[order]

    def set_reranker(self, reranker: Reranker | None) -> None:
        """Use a reranker (None: first-stage order); its priors become per-unit arrays. Its query
        map is used only with the embedding model it was fitted on."""
        self.reranker = reranker
        self.query_map = reranker.query_map if reranker and reranker.query_map \
            and reranker.query_map.embedding == self.embedder.name else None
        if reranker is None:
            return
        laws, keys = self.columns["law_norm"], self.columns["article_key"]
        self._law_prior = np.array([reranker.priors.law_feature(x) for x in laws])
        self._article_prior = np.array([reranker.priors.article_feature(x, k) for x, k in zip(laws, keys)])
        for i, refs in self._cites.items():
            if refs:
                self._law_prior[i] = max(reranker.priors.law_feature(x) for x, _ in refs)
                self._article_prior[i] = max(reranker.priors.article_feature(x, k) for x, k in refs)

    # ---- filters -------------------------------------------------------------------------
    def mask(self, f: Filters) -> np.ndarray:
        m = self._current_mask.copy() if f.status is None else (
            np.ones(len(self.ids), bool) if "all" in f.status else np.isin(self.columns["status"], f.status))
        if f.level:
            m &= np.isin(self.columns["level"], f.level)
        if f.region:
            m &= np.isin(self.columns["region"], f.region)
        if f.source:
            m &= np.isin(self.columns["source"], f.source)
        if f.law:
            laws = [self.aliases.resolve(x) or norm_title(x) for x in f.law]
            m &= np.isin(self.columns["law_norm"], laws)
        return m

    # ---- lookups -------------------------------------------------------------------------
    def article(self, law: str, number: str | int, filters: Filters | None = None) -> list[Hit]:
        """An article by law name/alias and number (1079, 一千零七十九, 第十条之一)."""
        law_norm = self.aliases.resolve(law)
        if law_norm is None:
            return []
        text = str(number)
        m = ARTICLE_RE.search(text if "条" in text else f"第{text.replace('之', '条之', 1) if '之' in text else text}条")
        if not m or (no := cn_to_int(m.group(1))) is None:
            return []
        return self._cited([Citation(law_norm, no, cn_to_int(m.group(2)) if m.group(2) else None)], filters or Filters())

    def _cited(self, citations: list[Citation], f: Filters) -> list[Hit]:
        allowed = set(self.ids[self.mask(f)].tolist())
        hits = []
        for c in citations:
            for uid, unit in self.store.find_article([c.law_norm], c.article_no, c.sub_no):
                if uid in allowed:
                    hits.append(Hit(uid, unit, 1.0, {"exact": 1.0}, exact=True))
        return hits

    def _by_doc_number(self, q: str, mask: np.ndarray) -> list[Hit]:
        """Units whose 文号 the question quotes (财税〔2019〕13号, 公告2023年第12号)."""
        compact = doc_number_key(q)
        found = [i for i, dn in self._doc_numbers if dn in compact and mask[i]]
        units = self.store.get([int(self.ids[i]) for i in found])
        return [Hit(int(self.ids[i]), units[int(self.ids[i])], 1.0, {"exact": 1.0}, exact=True)
                for i in found if int(self.ids[i]) in units]

    def unit(self, unit_id: str) -> Unit | None:
        """One unit by its stable id, with today's status."""
        return self.store.unit(unit_id)

    def neighbours(self, unit_id: str, before: int = 2, after: int = 2) -> list[Unit]:
        """The unit and those around it in its document, with today's status."""
        return self.store.neighbours(unit_id, before, after)

    # ---- search --------------------------------------------------------------------------
    def search(self, question: str, k: int = 10, filters: Filters | None = None,
               config: SearchConfig | None = None, context: str = "", methods: tuple[str, ...] = ("exact", "bm25", "dense")) -> list[Hit]:
        """Exact citations first, then the fused BM25 + dense ranking; deduplicated."""
        q = normalize(question)[:MAX_QUERY_CHARS]
        if not any(ch.isalnum() for ch in q):
            raise QueryError("问题是空的：请用一句话描述您遇到的法律问题")
        f, cfg = filters or Filters(), config or SearchConfig()
        mask = self.mask(f)
        hits = self._cited(find_citations(q, self.aliases, context), f) + self._by_doc_number(q, mask) \
            if "exact" in methods else []
        learned = self.reranker is not None and cfg.rerank and {"bm25", "dense"} <= set(methods)
        c = self.candidates(q, mask, cfg, methods, self.reranker.vocabulary if learned else None,
                            query_map=self.query_map if learned else None)
        if learned and len(c.ids):
            named = set(self.aliases.laws_named(q))
            law_named = np.array([x in named for x in self.columns["law_norm"][c.positions]], dtype=np.float64)
            x = features(c, self._law_prior[c.positions], self._article_prior[c.positions], law_named)
            scores = self._cards_by_text(c, self.reranker.score(x))
        else:
            scores = c.fused
        order = np.argsort(-scores, kind="stable")
        # "dense" is the plain cosine: how close the text is in meaning, whatever ranked it
        parts = {int(i): {"bm25": float(b), "dense": float(d), "fused": float(f)}
                 for i, b, d, f in zip(c.ids, c.bm25, c.cosine, c.fused)}
        return self._materialise(hits, c.ids[order].tolist(), dict(zip(c.ids.tolist(), scores.tolist())), parts, k)

    POLICY_LEVEL = "政策"

    def policy_hits(self, question: str, k: int = 3, context: str = "") -> list[Hit]:
        """The k policy documents that best match, those in force before expired or pending ones
        (still useful for what applied when, and always shown with their status)."""
        policies = Filters(level=[self.POLICY_LEVEL], status=["all"])
        if not self.mask(policies).any():  # an index may hold no policies at all
            return []
        hits = self.search(question, k=k, filters=policies, context=context)
        return sorted(hits, key=lambda h: h.unit.status != CURRENT)

    def search_for(self, question: str, audience: str = "resident", k: int = 10,
                   filters: Filters | None = None, context: str = "") -> list[Hit]:
        """`search`, with the enterprise audience's policy documents first."""
        hits = self.search(question, k=k, filters=filters, context=context)
        if audience != "enterprise":
            return hits
        first = self.policy_hits(question, context=context)
        seen = {h.unit.uid for h in first}
        return (first + [h for h in hits if h.unit.uid not in seen])[:k]

    def _cards_by_text(self, c: Candidates, scores: np.ndarray) -> np.ndarray:
        """Cards borrow their cited articles' priors, so the reranker places them well among
        statutes; but among themselves the priors would favour cards citing popular articles.
        Keep the slots the reranker gave to cards, and fill them in first-stage (text) order."""
        cards = np.flatnonzero(np.isin(self.columns["level"][c.positions], ("问答", "政策")))
        if len(cards) > 1:
            scores = scores.copy()
            scores[cards[np.argsort(-c.fused[cards], kind="stable")]] = np.sort(scores[cards])[::-1]
        return scores

    def candidates(self, q: str, mask: np.ndarray, cfg: SearchConfig, methods=("bm25", "dense"),
                   vocabulary: dict[str, Expansion] | None = None,
                   leave_out: tuple[list[str], dict[str, set[str]]] | None = None,
                   query_map: QueryMap | None = None) -> Candidates:
        """First stage: top BM25, dense and learned-vocabulary units, fused, with every
        candidate's scores; dense search with the question's vector mapped by `query_map`.
        `leave_out` (a training question's tokens and `vocabulary_targets`) is for training
        only (see `Expansion.scores`)."""
        rankings: dict[str, np.ndarray] = {}
        tokens = tokenize(q)
        bm25_all = None
        if "bm25" in methods:
            bm25_all = np.where(mask, self.sparse.scores(tokens), 0.0)
            top = np.argsort(-bm25_all)[: cfg.candidates]
            rankings["bm25"] = self.ids[top[bm25_all[top] > 0]]
        by_target = {level: learned.scores(tokens, (leave_out[0], leave_out[1][level]) if leave_out else None)
                     for level, learned in (vocabulary or {}).items()}
        expansion_all = np.zeros(len(self.ids))
        if "article" in by_target:
            expansion_all = np.where(mask, self._article_scores(by_target["article"]), 0.0)
            top = np.argsort(-expansion_all)[: cfg.expansion_candidates]
            rankings["expansion"] = self.ids[top[expansion_all[top] > 0]]
        raw = self.embedder.encode_query(q) if "dense" in methods else None
        mapped = query_map.apply(raw) if raw is not None and query_map is not None else None
        if raw is not None:
            rankings["dense"] = self._dense(raw, mask, cfg.candidates)
        if mapped is not None:
            rankings["mapped"] = self._dense(mapped, mask, cfg.candidates)
        ids = np.array(list(dict.fromkeys(np.concatenate([np.zeros(0, np.int64), *rankings.values()]).tolist())),
                       dtype=np.int64)
        pos = np.searchsorted(self.ids, ids)
        n = len(ids)

        def rank_of(name: str) -> np.ndarray:
            where = {u: r for r, u in enumerate(rankings.get(name, np.zeros(0, np.int64)).tolist())}
            return np.array([where.get(u, cfg.candidates) for u in ids.tolist()], dtype=np.float64)

        bm25 = bm25_all[pos] if bm25_all is not None else np.zeros(n)
        cosine = self.vectors[pos] @ raw if raw is not None else np.zeros(n)
        dense = self.vectors[pos] @ mapped if mapped is not None else cosine
        if cfg.method == "rrf":
            # the fused score is the text's own evidence (BM25 and the plain cosine): the learned
            # vocabulary and query map add candidates and reranker features, but cards are
            # ordered among themselves by text (`_cards_by_text`)
            fused_map = fusion.rrf({m: rankings[m] for m in ("bm25", "dense") if m in rankings}, cfg.weights, cfg.rrf_k)
        else:
            fused_map = fusion.weighted({"bm25": dict(zip(ids.tolist(), bm25)), "dense": dict(zip(ids.tolist(), cosine))}
                                        if n else {}, cfg.weights)
        fused = np.array([fused_map.get(u, 0.0) for u in ids.tolist()])
        return Candidates(ids, pos, np.asarray(bm25, np.float64), np.asarray(dense, np.float64),
                          rank_of("bm25"), rank_of("mapped" if mapped is not None else "dense"), fused, self.columns["law_norm"][pos],
                          self.columns["chapter"][pos], expansion_all[pos], rank_of("expansion"),
                          *(np.array([by_target.get(level, {}).get(t, 0.0)
                                      for t in self.columns[column][self._vocab_rows[pos]]])
                            for level, column in VOCAB_COLUMNS.items()),
                          np.asarray(cosine, np.float64), length=float(np.log1p(len(q))))

    def _article_scores(self, by_article: dict[str, float]) -> np.ndarray:
        """Per-unit array of learned-vocabulary scores; every version of an article shares its
        score, and a card takes the best of the articles it cites (as with the priors)."""
        out = np.zeros(len(self.ids))
        for art, s in by_article.items():
            out[self._article_rows.get(art, [])] = s
        for i, refs in self._cites.items():
            out[i] = max((by_article.get(article_id(*r), 0.0) for r in refs), default=0.0)
        return out

    def _dense(self, vector: np.ndarray, mask: np.ndarray, n: int) -> np.ndarray:
        """Ids of the top-n dense hits among the units the mask allows. A broad mask (the
        default, current-only) over-fetches and filters, which is faster than an id selector."""
        share = mask.mean() if len(mask) else 1.0
        if share < 0.5:
            return self.dense.search(vector, n, self.ids[mask])[0]
        ids, _ = self.dense.search(vector, int(n / share * 1.5) + 10)
        return ids[mask[np.searchsorted(self.ids, ids)]][:n]

    def _materialise(self, hits: list[Hit], order: list[int], score: dict[int, float], parts: dict, k: int) -> list[Hit]:
        seen = {(norm_title(h.unit.law), h.unit.article, h.unit.text) for h in hits}
        units = self.store.get(order[: k * 2 + 10])
        for uid in order:
            if len(hits) >= k:
                break
            u = units.get(uid) or self.store.get([uid]).get(uid)
            key = (norm_title(u.law), u.article, u.text)
            if key in seen:
                continue
            seen.add(key)
            hits.append(Hit(uid, u, score[uid], parts[uid]))
        return hits[:k]

    def stats(self) -> dict:
        m = self.manifest
        return {"units": m.units, "documents": m.documents, "sources": m.sources, "embedding": m.embedding,
                "built": m.built, "as_of": m.as_of, "newest_version": m.newest_version,
                "current_units": int(self._current_mask.sum()), "skipped_files": len(m.skipped)}
