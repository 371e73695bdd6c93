"""What an index holds, as the search reads it: the units (from the store, with the day's
status), per-unit columns in id order, the filters over them (masks), the names every law is
known by (aliases), and where each article and each quoted 文号 is.

Each unit's region is a chain of names (`bot.region`): a filter on a region allows the units whose
chain holds it (山东省 reaches 济南市's regulations), and a catalog opened for a deployment's region
(FARUN_REGION) knows which local regulations are of that region or above it (`local`) and which
are of another (`elsewhere`, left out of the ranked search unless a filter names a region).

One `Catalog` is built when a knowledge base is opened, for the day validity is computed for;
the candidate stage (`candidates`) and the reranking stage (`rerank`) read its arrays. `on(day)`
gives a view of it for another day: the same arrays except the statuses (and so the masks), and
units carrying that day's validity.
"""
from __future__ import annotations

import copy
import json
import re
import threading
from dataclasses import dataclass, field
from datetime import date

import numpy as np

from .. import region as regions
from ..index.store import UnitStore
from ..lawnames import norm_title, parse_reference
from ..numerals import article_key
from ..units import CARD_LEVELS, CURRENT, LOCAL_LEVEL, STATUSES, Unit
from ..validity import Timeline, status_on
from .citations import AliasTable
from .expansion import article_id


def doc_number_key(text: str) -> str:
    """文号 in a comparable form: brackets unified, spaces dropped (财税[2019]13号 = 财税〔2019〕13号)."""
    return re.sub(r"\s+", "", text).replace("[", "〔").replace("]", "〕").replace("（", "〔").replace("）", "〕")


@dataclass
class Filters:
    """Which units may be returned. `status=None` means 现行有效 only; ["all"] lifts the filter."""

    level: list[str] = field(default_factory=list)
    law: list[str] = field(default_factory=list)
    status: list[str] | None = None
    region: list[str] = field(default_factory=list)
    source: list[str] = field(default_factory=list)

    @classmethod
    def parse(cls, level=(), law=(), status: str | None = None, region=()) -> "Filters":
        """The one reading of filters as people give them (CLI flags, API parameters, page
        controls): blank entries dropped; status "current" (or nothing) means 现行有效 only,
        "all" every status, anything else that one status (ValueError for an unknown one)."""
        def clean(values) -> list[str]:
            values = [values] if isinstance(values, str) else values or []
            return [v.strip() for v in values if v and v.strip()]

        status = (status or "").strip()
        if status not in ("", "current", "all", *STATUSES):
            raise ValueError(f"status 只能是 current、all 或 {'、'.join(STATUSES)}")
        return cls(level=clean(level), law=clean(law), region=clean(region),
                   status=None if status in ("", "current") else ["all"] if status == "all" else [status])


def _region_chain(row) -> tuple[str, ...]:
    """A unit's region chain: the one its loader recorded (a local regulation's, with the
    province above its city), else what its region names."""
    if row["level"] == LOCAL_LEVEL and '"region_chain"' in (row["extra"] or ""):
        return tuple(json.loads(row["extra"])["region_chain"])
    return regions.chain_of(row["region"] or "")


class Catalog:
    """The units of a store as of `day`: `ids` (in id order) and `columns` (one array per field,
    row i describing unit ids[i]), `aliases`, what each card cites, and the local regulations of
    the deployment's region `home` (a chain; empty: no region, nothing is left out or preferred)."""

    def __init__(self, store: UnitStore, day: date, home: list[str] | tuple[str, ...] = ()):
        self.store = store
        rows = store.columns("law_norm", "level", "status", "valid_from", "valid_to", "ends_as", "region",
                             "source", "aliases", "article_no", "sub_no", "doc_number", "extra", "chapter", "doc_id")
        self.ids = np.array([r["id"] for r in rows], dtype=np.int64)
        self.day = day
        self.doc_ids = np.array([r["doc_id"] for r in rows], dtype=object)
        self.exists: np.ndarray | None = None  # on a view for an earlier day: whether each text was published yet
        self._timeline: Timeline | None = None
        self._lock = threading.Lock()
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
        self.law_names = list(names)  # every name, short ones too: words for the tokenizer
        self.aliases = AliasTable(names)
        # only non-article documents (policies) are looked up by 文号: a judicial
        # interpretation's 文号 would otherwise pull in every one of its articles
        self._doc_numbers = [(i, doc_number_key(r["doc_number"])) for i, r in enumerate(rows)
                             if r["doc_number"] and not r["article_no"]]
        self.current = self.columns["status"] == CURRENT
        # what each card cites, as (law, article key): cards inherit their articles' priors
        self.cites = {i: [ref for c in json.loads(r["extra"] or "{}").get("articles", []) if (ref := parse_reference(c))]
                      for i, r in enumerate(rows) if r["level"] in CARD_LEVELS}
        self._article_rows: dict[str, list[int]] = {}
        for i, (law, key) in enumerate(zip(self.columns["law_norm"], self.columns["article_key"])):
            if key:
                self._article_rows.setdefault(article_id(law, key), []).append(i)
        # region chains: few distinct ones (about twenty with the Shandong regulations), so the
        # region tests run once per chain and are spread to the rows
        chains: dict[tuple[str, ...], int] = {}
        self.chain_rows = np.array([chains.setdefault(_region_chain(r), len(chains)) for r in rows], dtype=np.int64)
        self.chains = list(chains)
        self.home = list(home)
        local = self.columns["level"] == LOCAL_LEVEL
        self.local = local & self._chains_where(lambda c: c != (regions.NATIONAL,) and regions.within(c, self.home)) \
            if self.home else np.zeros(len(rows), bool)
        self.elsewhere = local & self._chains_where(lambda c: bool(c) and not regions.within(c, self.home)) \
            if self.home else None
        # whose chapter and law vocabulary a unit is scored with: its own, or a card's first cited article's
        self.vocab_rows = np.arange(len(rows))
        for i, refs in self.cites.items():
            cited = [r for ref in refs for r in self.article_rows(*ref)]
            if cited:
                self.vocab_rows[i] = cited[0]

    def __len__(self) -> int:
        return len(self.ids)

    # ---- rows ----------------------------------------------------------------------------
    def rows(self, ids: np.ndarray) -> np.ndarray:
        """Rows (positions in the column arrays) of unit ids."""
        return np.searchsorted(self.ids, ids)

    def article_rows(self, law_norm: str, key: str) -> list[int]:
        """Rows of every version of an article."""
        return self._article_rows.get(article_id(law_norm, key), [])

    def article_id_rows(self, art: str) -> list[int]:
        """Rows of every version of an article given as `expansion.article_id`."""
        return self._article_rows.get(art, [])

    def doc_number_rows(self, question: str, mask: np.ndarray) -> list[int]:
        """Rows, among those the mask allows, of documents whose 文号 the question quotes."""
        compact = doc_number_key(question)
        return [i for i, dn in self._doc_numbers if dn in compact and mask[i]]

    def _chains_where(self, test) -> np.ndarray:
        """Rows whose region chain passes `test`."""
        return np.array([test(c) for c in self.chains], dtype=bool)[self.chain_rows]

    def in_regions(self, names: list[str]) -> np.ndarray:
        """Rows of the regions named (山东省 with its cities' rows, 济南市历下区 with the district's)."""
        wanted = {(regions.split(n) or [n])[-1] for n in names}
        return self._chains_where(lambda c: not wanted.isdisjoint(c))

    # ---- another day ---------------------------------------------------------------------
    def on(self, day: date, built: date) -> "Catalog":
        """This catalog as read on `day` (the index was built on `built`): statuses, masks and
        units of that day (`validity.Timeline`); everything else is shared, nothing is rebuilt."""
        with self._lock:
            if self._timeline is None:
                self._timeline = Timeline(self.store.stored_validity())
        validity = self._timeline.on(day, built)
        view = copy.copy(self)
        view.day, view.store = day, self.store.on(validity)
        view.columns = dict(self.columns)
        view.columns["status"] = np.array([validity[d].status for d in self.doc_ids], dtype=object)
        view.current = view.columns["status"] == CURRENT
        exists = np.array([validity[d].published_yet for d in self.doc_ids], dtype=bool)
        view.exists = None if exists.all() else exists
        view.current &= exists
        return view

    # ---- filters -------------------------------------------------------------------------
    def mask(self, f: Filters) -> np.ndarray:
        """Which rows the filters allow (never a text not yet published on the catalog's day)."""
        m = self.current.copy() if f.status is None else (
            np.ones(len(self.ids), bool) if "all" in f.status else np.isin(self.columns["status"], f.status))
        if self.exists is not None:
            m &= self.exists
        if f.level:
            m &= np.isin(self.columns["level"], f.level)
        if f.region:
            m &= self.in_regions(f.region)
        if f.source:
            m &= np.isin(self.columns["source"], f.source)
        if f.law:
            laws = [self.aliases.resolve(x) or norm_title(x) for x in f.law]
            m &= np.isin(self.columns["law_norm"], laws)
        return m

    def search_mask(self, f: Filters) -> np.ndarray:
        """What the ranked search may return: `mask`, less the local regulations of other regions
        than the deployment's unless the filters name a region (looked-up articles and quoted
        文号 are not ranked: what a person names is found wherever it is from)."""
        m = self.mask(f)
        if self.elsewhere is not None and not f.region:
            m &= ~self.elsewhere
        return m

    # ---- units ---------------------------------------------------------------------------
    def units(self, ids: list[int]) -> dict[int, Unit]:
        """Units by id, with the day's status."""
        return self.store.get(ids)

    def unit(self, uid: str) -> Unit | None:
        return self.store.unit(uid)

    def neighbours(self, uid: str, before: int, after: int) -> list[Unit]:
        return self.store.neighbours(uid, before, after)
