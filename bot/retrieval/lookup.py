"""Lookups with validity, as JSON: an article on a day (the version in force, or why there is
none), and a policy document by 文号 or title. The MCP tools, and anything else that wants a
self-explaining answer to "what did 《…》第N条 say on that day", call these; the day is the
knowledge base's own (`KnowledgeBase.on(day)` for another).
"""
from __future__ import annotations

import numpy as np

from ..units import CURRENT, EXPIRED, PENDING, POLICY_LEVEL, REPEALED, SUPERSEDED, Unit
from .search import Filters, Hit, KnowledgeBase

ALL = Filters(status=["all"])
MAX_POLICY_CHARS = 6000  # the text of a long uploaded policy is cut (its sections are listed)

# how a text that is not in force on the day is described
NOT_IN_FORCE = {PENDING: "该条所在文本已公布但当日尚未施行", SUPERSEDED: "该条所在文本当日已被新版本取代",
                REPEALED: "该条所在文本当日已废止", EXPIRED: "该文件当日已失效"}


def version_json(u: Unit) -> dict:
    return {"unit_id": u.uid, "status": u.status, "status_note": u.status_note, "valid_from": u.valid_from,
            "valid_to": u.valid_to, "published": u.published}


def choose(hits: list[Hit]) -> tuple[Hit, list[Hit]]:
    """The version to show among the versions of one article: the one in force; else the next to
    come into force; else the last one that was. Returns (chosen, the others)."""
    current = [h for h in hits if h.unit.status == CURRENT]
    pending = [h for h in hits if h.unit.status == PENDING]
    chosen = current[0] if current else min(pending, key=lambda h: h.unit.valid_from) if pending else \
        max(hits, key=lambda h: h.unit.valid_from or h.unit.published)
    return chosen, [h for h in hits if h is not chosen]


def successor(kb: KnowledgeBase, unit: Unit, others: list[Hit]) -> str:
    """What replaces a text that is not in force, where the knowledge base knows it."""
    if unit.status == PENDING:
        now = next((h.unit for h in others if h.unit.status == CURRENT), None)
        return f"当日施行的是 {now.valid_from or now.published} 起施行的版本" if now else ""
    if unit.status == SUPERSEDED:
        new = [h.unit for h in others if (h.unit.valid_from or "") > (unit.valid_from or "")]
        return f"新版本（{min(new, key=lambda u: u.valid_from).valid_from} 起施行）" if new else \
            (f"新版本（{unit.valid_to} 起施行）" if unit.valid_to else "")
    if unit.status in (REPEALED, EXPIRED):
        later = unit.extra.get("successor") or []
        basis = [p for p in unit.status_note.split("；") if p.startswith("废止依据")]
        return "；".join([*later, *basis])
    return ""


def article_on(kb: KnowledgeBase, law: str, number: str | int, context: int = 1) -> dict | None:
    """An article as of the knowledge base's day, or None when the base has no such article.

    `found` is "in_force" (a version is in force that day: its text) or "not_in_force" (the
    base has the article, but no version was in force: the one pending, or the last one, with
    its status, dates and, where known, what replaces it). With the chapter it stands in and the
    `context` articles before and after it (their text as of the same day)."""
    hits = kb.article(law, number, ALL)
    if not hits:
        return None
    chosen, others = choose(hits)
    u = chosen.unit
    around = [n for n in kb.neighbours(u.uid, context, context) if n.uid != u.uid]
    return {
        "as_of": kb.as_of.isoformat(), "found": "in_force" if u.status == CURRENT else "not_in_force",
        "explanation": "" if u.status == CURRENT else NOT_IN_FORCE.get(u.status, u.status),
        "law": u.law, "article": u.article, "citation": u.citation, "level": u.level, "issuer": u.issuer,
        **version_json(u), "successor": successor(kb, u, others), "chapter": u.chapter, "text": u.text,
        "neighbours": [{"article": n.article or n.heading_path, "text": n.text} for n in around],
        "other_versions": [version_json(h.unit) for h in others],
    }


def policy_on(kb: KnowledgeBase, doc_number_or_title: str, suggestions: int = 3) -> dict:
    """A policy document by its 文号 (财税〔2019〕13号, brackets in any style) or title (or a
    name it is known by), with its validity on the knowledge base's day: `found` True with the
    card, or False with the closest policy documents as `suggestions`."""
    q = (doc_number_or_title or "").strip()
    if not q:
        raise ValueError("请给出政策文件的文号或标题，如 财税〔2019〕13号")
    catalog = kb.catalog
    mask = kb.mask(Filters(level=[POLICY_LEVEL], status=["all"]))
    rows = catalog.doc_number_rows(q, mask)
    if not rows and (law := kb.aliases.resolve(q)) is not None:
        rows = np.flatnonzero(mask & (catalog.columns["law_norm"] == law)).tolist()
    if not rows:
        try:
            hits = kb.policy_hits(q, k=suggestions)
        except ValueError:
            hits = []
        return {"as_of": kb.as_of.isoformat(), "found": False, "query": q,
                "suggestions": [_policy_card(kb, [h.unit], brief=True) for h in hits]}
    docs: dict[str, list[Unit]] = {}
    for u in sorted(catalog.units([int(catalog.ids[i]) for i in rows]).values(), key=lambda u: (u.doc_id, u.position)):
        docs.setdefault(u.doc_id, []).append(u)
    # one document: the 文号 or title is its own; several (versions, or a title shared): in force first
    cards = sorted((_policy_card(kb, kb.store.units_of_doc(d) or units) for d, units in docs.items()),
                   key=lambda c: (c["status"] != CURRENT, c["valid_from"]))
    return {"as_of": kb.as_of.isoformat(), "found": True, "query": q, **cards[0], "other_documents": cards[1:]}


def _policy_card(kb: KnowledgeBase, units: list[Unit], brief: bool = False) -> dict:
    u = units[0]
    extra = u.extra or {}
    card = {"title": u.law, "doc_number": u.doc_number, "issuer": u.issuer, "region": u.region, **version_json(u),
            "topic": extra.get("topic", ""), "note": extra.get("note", ""),
            "successor": list(extra.get("successor") or []), "unit_id": u.uid}
    if brief:
        return card
    text = "\n\n".join((f"{x.heading_path}\n" if x.heading_path and len(units) > 1 else "") + x.text for x in units)
    card["text"] = text[:MAX_POLICY_CHARS] + ("……（全文较长，已截断）" if len(text) > MAX_POLICY_CHARS else "")
    card["sections"] = [x.heading_path for x in units if x.heading_path] if len(units) > 1 else []
    card["articles"] = list(extra.get("articles") or [])
    return card
