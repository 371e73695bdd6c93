"""The knowledge base opened for searching: store + dense + sparse + filters + citations.

`KnowledgeBase.search` is the one search path; the langchain retriever, the CLI, the eval and
the apps all call it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np

from ..config import Settings
from ..embeddings import load_embeddings
from ..index import layout
from ..index.dense import DenseIndex
from ..index.sparse import SparseIndex
from ..index.store import UnitStore
from ..lawnames import norm_title
from ..numerals import ARTICLE_RE, cn_to_int
from ..text import MAX_QUERY_CHARS, add_words, normalize, tokenize
from ..units import CURRENT, PENDING, SUPERSEDED, Unit
from . import fusion
from .citations import AliasTable, Citation, find_citations


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

    candidates: int = 100
    method: str = "rrf"  # or "weighted"
    weights: dict[str, float] = field(default_factory=lambda: {"bm25": 1.0, "dense": 1.0})
    rrf_k: int = 60


def status_on(status: str, valid_from: str, valid_to: str, day: str) -> str:
    """The status of a unit on `day`, given the status it was built with: a pending version
    comes into force on its date, a current one ends when its successor starts."""
    if status == PENDING and valid_from and valid_from <= day:
        return CURRENT
    if status == CURRENT and valid_to and valid_to <= day:
        return SUPERSEDED
    return status


class KnowledgeBase:
    def __init__(self, folder: Path, settings: Settings, embedder=None):
        self.folder = folder
        self.settings = settings
        self.manifest = layout.Manifest.load(folder)
        if self.manifest.embedding != settings.embedding:
            raise layout.IndexUnavailable(
                f"索引是用向量模型 {self.manifest.embedding} 构建的，当前配置为 {settings.embedding}："
                f"请改回配置，或运行 python -m bot build 用新模型重建索引"
            )
        try:
            self.store = UnitStore(folder / layout.STORE, readonly=True)
            self.dense = DenseIndex.load(folder)
            self.sparse = SparseIndex.load(folder)
        except Exception as exc:  # faiss/bm25s/sqlite raise many kinds; all mean the same to a user
            raise layout.IndexUnavailable(f"索引文件损坏或不完整（{exc}）：请运行 python -m bot build 重建") from exc
        self.embedder = embedder or load_embeddings(settings.embedding, settings.threads)
        if self.embedder.dim != self.dense.dim:
            raise layout.IndexUnavailable("索引向量维度与模型不符：请运行 python -m bot build 重建")
        self._load_columns(settings.as_of)

    @classmethod
    def open(cls, settings: Settings | None = None, embedder=None) -> "KnowledgeBase":
        settings = settings or Settings.load()
        return cls(layout.current(settings.index_dir), settings, embedder)

    def _load_columns(self, day: date) -> None:
        rows = self.store.columns("law", "law_norm", "level", "status", "valid_from", "valid_to", "region", "source", "aliases")
        self.ids = np.array([r["id"] for r in rows], dtype=np.int64)
        iso = day.isoformat()
        self.columns = {
            "law_norm": np.array([r["law_norm"] for r in rows], dtype=object),
            "level": np.array([r["level"] for r in rows], dtype=object),
            "status": np.array([status_on(r["status"], r["valid_from"], r["valid_to"], iso) for r in rows], dtype=object),
            "region": np.array([r["region"] for r in rows], dtype=object),
            "source": np.array([r["source"] for r in rows], dtype=object),
        }
        names: dict[str, str] = {}
        for r in rows:
            names.setdefault(r["law_norm"], r["law_norm"])
            for a in json.loads(r["aliases"] or "[]"):
                names.setdefault(norm_title(a), r["law_norm"])
        self.aliases = AliasTable(names)
        add_words(list(names))
        self._current_mask = self.columns["status"] == CURRENT

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
                    unit.status = self._status(uid)
                    hits.append(Hit(uid, unit, 1.0, {"exact": 1.0}, exact=True))
        return hits

    def _status(self, uid: int) -> str:
        return self.columns["status"][np.searchsorted(self.ids, uid)]

    def neighbours(self, unit_id: str, before: int = 2, after: int = 2) -> list[Unit]:
        row = self.store.con.execute("SELECT id FROM units WHERE uid = ?", (unit_id,)).fetchone()
        return self.store.neighbours(row[0], before, after) if row else []

    # ---- search --------------------------------------------------------------------------
    def search(self, question: str, k: int = 10, filters: Filters | None = None,
               config: SearchConfig | None = None, context: str = "", methods: tuple[str, ...] = ("exact", "bm25", "dense")) -> list[Hit]:
        """Exact citations first, then the fused BM25 + dense ranking; deduplicated."""
        q = normalize(question)[:MAX_QUERY_CHARS]
        if not any(ch.isalnum() for ch in q):
            raise QueryError("问题是空的：请用一句话描述您遇到的法律问题")
        f, cfg = filters or Filters(), config or SearchConfig()
        mask = self.mask(f)
        hits = self._cited(find_citations(q, self.aliases, context), f) if "exact" in methods else []
        rankings, raw = {}, {}
        if "bm25" in methods:
            scores = np.where(mask, self.sparse.scores(tokenize(q)), 0.0)
            top = np.argsort(-scores)[: cfg.candidates]
            top = top[scores[top] > 0]
            rankings["bm25"] = self.ids[top]
            raw["bm25"] = dict(zip(self.ids[top].tolist(), scores[top].tolist()))
        if "dense" in methods:
            allowed = None if mask.all() else self.ids[mask]
            ids, scores = self.dense.search(self.embedder.encode_query(q), cfg.candidates, allowed)
            rankings["dense"] = ids
            raw["dense"] = dict(zip(ids.tolist(), scores.tolist()))
        if cfg.method == "rrf":
            fused = fusion.rrf(rankings, cfg.weights, cfg.rrf_k)
        else:
            fused = fusion.weighted(raw, cfg.weights)
        order = sorted(fused, key=fused.get, reverse=True)
        return self._materialise(hits, order, fused, raw, k)

    def _materialise(self, hits: list[Hit], order: list[int], fused: dict[int, float], raw: dict, k: int) -> list[Hit]:
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
            u.status = self._status(uid)
            hits.append(Hit(uid, u, fused[uid], {m: raw[m][uid] for m in raw if uid in raw[m]}))
        return hits[:k]

    def stats(self) -> dict:
        m = self.manifest
        return {"units": m.units, "documents": m.documents, "sources": m.sources, "embedding": m.embedding,
                "built": m.built, "as_of": m.as_of, "newest_version": m.newest_version,
                "current_units": int(self._current_mask.sum()), "skipped_files": len(m.skipped)}
