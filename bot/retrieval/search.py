"""The knowledge base opened for searching: a small facade over its parts.

* `catalog.Catalog`        — the units, their columns, filters (masks), status as of the day, aliases
* `candidates.CandidateStage` — first stage: BM25, dense and learned-vocabulary candidates, fused
* `rerank.RerankStage`     — second stage: the learned reranker's scores
* `citations`              — exact citations in the question, which come first

`KnowledgeBase.search` is the one search path; the langchain retriever, the CLI, the lab and
the apps all call it. `KnowledgeBase.on(day)` is the same knowledge base read on another day
(statuses, filters and units of that day; `as_of` of the API, the MCP tools and the CLI).
"""
from __future__ import annotations

import copy
import dataclasses
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np

from ..config import Settings
from ..embeddings import load_embeddings
from ..index import layout
from ..index.second import SecondVectors, present as second_present
from ..index.sparse import SparseIndex
from ..index.store import UnitStore
from ..lawnames import norm_title
from ..numerals import ARTICLE_RE, cn_to_int
from ..sync import state as sync_state
from ..text import MAX_QUERY_CHARS, add_words, normalize, tokenize
from ..units import CURRENT, EXPIRED, PENDING, POLICY_LEVEL, QA_LEVEL, Unit
from .backends import open_backend
from .candidates import CandidateStage, SearchConfig, SecondEncoder, vocabulary_scores
from .catalog import Catalog, Filters, doc_number_key
from .citations import CitedArticle, find_citations
from .rerank import Reranker, RerankStage

__all__ = ["Filters", "Hit", "KnowledgeBase", "QueryError", "SearchConfig", "doc_number_key", "parse_day", "unit_json"]

# The policy units that are cards: the knowledge folder's policy cards and the sections of a
# district's compilation (bot.sources.compilation), one unit each; chunks of uploaded documents are not.
POLICY_CARD_KINDS = ("policy", "compilation")


class QueryError(ValueError):
    """A question that cannot be searched (empty, only punctuation …); the message says why."""


def parse_day(text: str | None) -> date | None:
    """An `as_of` day as people give it: YYYY-MM-DD (blank: None); ValueError with a message otherwise."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"as_of 日期 {text!r} 无效：请写成 YYYY-MM-DD，如 2025-06-01") from None


@dataclass
class Hit:
    id: int
    unit: Unit
    score: float
    parts: dict[str, float] = field(default_factory=dict)  # per-method scores and ranks
    exact: bool = False

    def to_json(self) -> dict:
        return unit_json(self.unit) | {"score": round(float(self.score), 6), "exact": self.exact}


def unit_json(u: Unit) -> dict:
    """A unit as search results, the policy list and the CLI's --json give it."""
    return {
        "unit_id": u.uid, "law": u.law, "article": u.article, "heading": u.heading_path,
        "chapter": u.chapter, "level": u.level, "status": u.status, "status_note": u.status_note,
        "valid_from": u.valid_from, "valid_to": u.valid_to, "issuer": u.issuer, "region": u.region,
        "doc_number": u.doc_number, "source": u.source, "citation": u.citation, "text": u.text,
        # a policy's interpretation (a compilation's 律师解读, a card's 政策解读) and who wrote or reviewed it
        "interpretation": u.extra.get("interpretation", "") if u.level == POLICY_LEVEL else "",
        "reviewed_by": u.extra.get("reviewed_by", ""),
    }


# A served knowledge base encodes one question at a time, on one BLAS thread: a single sentence
# gives a second thread nothing to share, and while requests run in parallel the encoder's threads
# only spin (2026-12-03, full index, 2 shared cores: 917 ms of CPU per answer with 2 threads, 75 ms
# with 1, the same answers for 112 questions; docs/reliability.md). FARUN_THREADS is for builds.
QUERY_THREADS = 1


class KnowledgeBase:
    def __init__(self, folder: Path, settings: Settings, embedder=None, second_embedder=None):
        """`embedder`, `second_embedder`: models already loaded (a reload after an update), else loaded
        here; the second only when the build has its vectors (bot.index.second)."""
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
            self.sparse = SparseIndex.load(folder)  # also the words' document frequencies the answer layers read
            self.catalog = Catalog(self.store, settings.as_of, settings.home_region)
            self.backend = open_backend(settings, folder, self.manifest, self.catalog, self.sparse)
        except layout.IndexUnavailable:
            raise
        except Exception as exc:  # faiss/bm25s/sqlite raise many kinds; all mean the same to a user
            raise layout.IndexUnavailable(f"索引文件损坏或不完整（{exc}）：请运行 python -m bot build 重建") from exc
        add_words(self.catalog.law_names)  # the tokenizer keeps every law's names whole
        self.embedder = embedder or load_embeddings(settings.embedding, QUERY_THREADS)
        if self.embedder.dim != self.backend.dim:
            raise layout.IndexUnavailable("索引向量维度与模型不符：请运行 python -m bot build 重建")
        self.second_present = second_present(folder)  # what a server compares with to notice new vectors
        vectors = SecondVectors.open(folder, settings.second_model)
        self.second_embedder = second_embedder  # kept for a reload, loaded only where there are vectors
        if vectors and second_embedder is None:
            self.second_embedder = load_embeddings(settings.second_model, QUERY_THREADS)
        second = SecondEncoder.open(self.catalog, vectors, self.second_embedder)
        self.candidate_stage = CandidateStage(self.catalog, self.backend, self.embedder, second)
        self._cards: dict | None = None
        self.set_reranker(Reranker.load())
        self._days: OrderedDict[date, KnowledgeBase] = OrderedDict()
        self._days_lock = threading.Lock()

    @classmethod
    def open(cls, settings: Settings | None = None, embedder=None, second_embedder=None) -> "KnowledgeBase":
        settings = settings or Settings.load()
        return cls(layout.current(settings.index_dir), settings, embedder, second_embedder)

    DAYS_KEPT = 8  # views of other days kept (each holds a status column per unit)

    @property
    def as_of(self) -> date:
        """The day statuses are computed for."""
        return self.settings.as_of

    def on(self, day: date | str | None) -> "KnowledgeBase":
        """This knowledge base read on `day` (a date or YYYY-MM-DD; None: its own day): searches,
        lookups and units with that day's validity, nothing rebuilt. The first and second stage
        are shared: they read only what does not change with the day (the mask is passed in)."""
        if isinstance(day, str):
            day = parse_day(day)
        if day is None or day == self.as_of:
            return self
        with self._days_lock:
            if (view := self._days.get(day)) is not None:
                self._days.move_to_end(day)
                return view
        try:
            built = date.fromisoformat(self.manifest.as_of)
        except (TypeError, ValueError):
            built = self.as_of
        view = copy.copy(self)
        view.catalog = self.catalog.on(day, built)
        view.store = view.catalog.store
        view.settings = dataclasses.replace(self.settings, today=day)
        view._days = OrderedDict()  # its own views (of days other than its own)
        view._cards = None  # card statuses are those of the day too
        with self._days_lock:
            self._days[day] = view
            while len(self._days) > self.DAYS_KEPT:
                self._days.popitem(last=False)
        return view

    def set_reranker(self, reranker: Reranker | None) -> None:
        """Use a reranker (None: first-stage order). Its query map is used only with the
        embedding model it was fitted on, its second weights only with the second encoder's vectors."""
        second = self.settings.second_model if self.candidate_stage.second else ""
        self.rerank_stage = RerankStage(self.catalog, reranker, self.embedder.name, second)

    @property
    def reranker(self) -> Reranker | None:
        return self.rerank_stage.reranker

    @property
    def query_map(self):
        return self.rerank_stage.query_map

    @property
    def aliases(self):
        """Every name each law is known by (`citations.AliasTable`)."""
        return self.catalog.aliases

    def mask(self, f: Filters) -> np.ndarray:
        return self.catalog.mask(f)

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
        return self._cited([CitedArticle(law_norm, no, cn_to_int(m.group(2)) if m.group(2) else None)], filters or Filters())

    def _cited(self, citations: list[CitedArticle], f: Filters) -> list[Hit]:
        mask, ids, hits = self.mask(f), self.catalog.ids, []
        for c in citations:
            found = self.store.find_article([c.law_norm], c.article_no, c.sub_no)
            rows = self.catalog.rows(np.array([uid for uid, _ in found], dtype=np.int64))
            # the filters' mask at the found units' rows (not a set of every allowed id: 26k per lookup)
            hits += [Hit(uid, unit, 1.0, {"exact": 1.0}, exact=True) for (uid, unit), row in zip(found, rows)
                     if row < len(ids) and ids[row] == uid and mask[row]]
        return hits

    def _by_doc_number(self, q: str, mask: np.ndarray) -> list[Hit]:
        """Units whose 文号 the question quotes (财税〔2019〕13号, 公告2023年第12号)."""
        found = [int(self.catalog.ids[i]) for i in self.catalog.doc_number_rows(q, mask)]
        units = self.catalog.units(found)
        return [Hit(uid, units[uid], 1.0, {"exact": 1.0}, exact=True) for uid in found if uid in units]

    def unit(self, unit_id: str) -> Unit | None:
        """One unit by its stable id, with today's status."""
        return self.catalog.unit(unit_id)

    def neighbours(self, unit_id: str, before: int = 2, after: int = 2) -> list[Unit]:
        """The unit and those around it in its document, with today's status."""
        return self.catalog.neighbours(unit_id, before, after)

    # ---- search --------------------------------------------------------------------------
    def search(self, question: str, k: int = 10, filters: Filters | None = None,
               config: SearchConfig | None = None, context: str = "", methods: tuple[str, ...] = ("exact", "bm25", "dense")) -> list[Hit]:
        """Exact citations first, then the fused BM25 + dense ranking, reranked; deduplicated."""
        q = normalize(question)[:MAX_QUERY_CHARS]
        if not any(ch.isalnum() for ch in q):
            raise QueryError("问题是空的：请用一句话描述您遇到的法律问题")
        f, cfg = filters or Filters(), config or SearchConfig()
        hits = self._cited(find_citations(q, self.aliases, context), f) + self._by_doc_number(q, self.mask(f)) \
            if "exact" in methods else []
        learned = self.reranker is not None and cfg.rerank and {"bm25", "dense"} <= set(methods)
        tokens = tokenize(q)
        c = self.candidate_stage.candidates(q, tokens, self.catalog.search_mask(f), cfg, methods,
                                            vocabulary_scores(self.reranker.vocabulary, tokens) if learned else None,
                                            query_map=self.query_map if learned else None,
                                            second=learned and self.rerank_stage.with_second)
        scores = self.rerank_stage.scores(q, c) if learned and len(c.ids) else c.fused
        order = np.argsort(-scores, kind="stable")
        # "dense" is the plain cosine: how close the text is in meaning, whatever ranked it
        parts = {int(i): {"bm25": float(b), "dense": float(d), "fused": float(f)}
                 for i, b, d, f in zip(c.ids, c.bm25, c.cosine, c.fused)}
        return self._materialise(hits, c.ids[order].tolist(), dict(zip(c.ids.tolist(), scores.tolist())), parts, k)

    def policy_hits(self, question: str, k: int = 3, context: str = "") -> list[Hit]:
        """The k policy documents that best match, those in force before expired or pending ones
        (still useful for what applied when, and always shown with their status)."""
        policies = Filters(level=[POLICY_LEVEL], status=["all"])
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

    def _materialise(self, hits: list[Hit], order: list[int], score: dict[int, float], parts: dict, k: int) -> list[Hit]:
        seen = {(norm_title(h.unit.law), h.unit.article, h.unit.text) for h in hits}
        units = self.catalog.units(order[: k * 2 + 10])
        for uid in order:
            if len(hits) >= k:
                break
            u = units.get(uid) or self.catalog.units([uid]).get(uid)
            key = (norm_title(u.law), u.article, u.text)
            if key in seen:
                continue
            seen.add(key)
            hits.append(Hit(uid, u, score[uid], parts[uid]))
        return hits[:k]

    def stats(self) -> dict:
        """What the index holds and how current it is: counts (units by level and by region), the
        manifest's dates (newest_version: the corpus date), the deployment's region (FARUN_REGION),
        cards, overrides, and the latest sync of each synced source (bot.sync.state)."""
        m, columns = self.manifest, self.catalog.columns
        return {"units": m.units, "documents": m.documents, "sources": m.sources, "embedding": m.embedding,
                "built": m.built, "as_of": m.as_of, "newest_version": m.newest_version,
                "region": self.settings.region, "units_by_level": _counts(columns["level"]),
                "units_by_region": _counts(r or "（未写地区）" for r in columns["region"]),
                "current_units": int(self.catalog.current.sum()), "skipped_files": len(m.skipped),
                "overrides": m.overrides, "cards": self.card_stats(),
                "syncs": sync_state.summary(self.settings.data_dir)}

    def card_stats(self) -> dict:
        """The cards the index holds: Q&A cards by topic and by review state (reviewed: a person
        is named in reviewed_by), policy cards (knowledge cards and compilation sections) by
        status as of the day (现行有效 / 已失效 / 已公布尚未施行, then any other) and by region."""
        if self._cards is None:
            qa = list({u.doc_id: u for u in self.store.units_at_level(QA_LEVEL)}.values())
            policies = list({u.doc_id: u for u in self.store.units_at_level(POLICY_LEVEL)
                             if u.extra.get("kind") in POLICY_CARD_KINDS}.values())
            reviewed = sum(1 for u in qa if u.extra.get("reviewed_by"))
            status = {CURRENT: 0, EXPIRED: 0, PENDING: 0} | _counts(u.status for u in policies)
            self._cards = {
                "qa": {"total": len(qa), "reviewed": reviewed, "unreviewed": len(qa) - reviewed,
                       "by_topic": _counts(u.extra.get("topic") or "（未分主题）" for u in qa)},
                "policy": {"total": len(policies), "by_status": status,
                           "by_region": _counts(u.region or "（未写地区）" for u in policies),
                           "compilation_sections": sum(1 for u in policies if u.extra.get("kind") == "compilation")},
            }
        return self._cards


def _counts(values) -> dict[str, int]:
    """How often each value occurs, most frequent first (ties in first-seen order)."""
    out: dict[str, int] = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))
