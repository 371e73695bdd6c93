"""What a sync changes: the source's documents in the serving index against those just loaded.

Documents are matched by id (title and version: a file renamed to a new version date is a new
version of the same title). The comparison yields the report (documents added, new versions,
articles changed with a unified diff each, documents removed, documents that became repealed
or pending, files skipped) and the update that makes the index match: the documents to take
out and the units to put in. A document is replaced when its text, its metadata or its
validity changed; every version of a title one of whose versions changed is replaced with it,
so the update resolves validity over the same versions as the report did.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field

from ..lawnames import norm_title
from ..sources import Skipped
from ..units import EXPIRED, PENDING, REPEALED, Unit

# what a document's identity and validity are made of, besides its text
_META = ("law", "level", "issuer", "region", "published", "valid_from", "valid_to", "doc_number", "status",
         "status_note", "ends_as", "source_status")
_NOT_IN_FORCE = (REPEALED, EXPIRED)


def _title(u: Unit) -> tuple[str, str]:
    return u.level, norm_title(u.law)


def _pieces(units: list[Unit]) -> list[tuple[str, str]]:
    """(label, text) of a document's units in order: the article (第二条) or heading path."""
    return [(u.article or u.heading_path or f"第{u.position + 1}段", u.text) for u in units]


def _signature(units: list[Unit]) -> tuple:
    return tuple((u.uid, u.chapter, u.text, *(getattr(u, k) for k in _META)) for u in units)


def article_changes(title: str, old: list[Unit], new: list[Unit]) -> list[dict]:
    """Per article (or section) that differs: what happened and a compact unified diff."""
    before, after = dict(_pieces(old)), dict(_pieces(new))
    out = []
    for label in list(dict.fromkeys([*after, *before])):
        a, b = before.get(label), after.get(label)
        if a == b:
            continue
        change = "新增" if a is None else "删除" if b is None else "修改"
        diff = difflib.unified_diff((a or "").split("\n") if a is not None else [],
                                    (b or "").split("\n") if b is not None else [],
                                    f"《{title}》{label}（上次同步）", f"《{title}》{label}（本次同步）", lineterm="", n=0)
        out.append({"title": title, "article": label, "change": change, "diff": "\n".join(diff)})
    return out


@dataclass
class Changes:
    """The report of one sync and the index update it calls for."""

    added: list[str] = field(default_factory=list)  # titles new to the source
    new_versions: list[dict] = field(default_factory=list)  # {title, old, new}: version dates
    articles: list[dict] = field(default_factory=list)  # {title, article, change, diff}
    removed: list[str] = field(default_factory=list)  # titles no longer in the source
    repealed: list[dict] = field(default_factory=list)  # {title, status, note}: now 已废止 / 已失效
    pending: list[dict] = field(default_factory=list)  # {title, status, note}: 已公布尚未施行
    skipped: list[dict] = field(default_factory=list)  # {path, reason}
    add: list[Unit] = field(default_factory=list)
    remove_docs: list[str] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        return {"added": len(self.added), "new_versions": len(self.new_versions),
                "articles_changed": len(self.articles), "removed": len(self.removed),
                "repealed": len(self.repealed), "pending": len(self.pending), "skipped": len(self.skipped),
                "units_added": len(self.add), "documents_replaced": len(self.remove_docs)}

    def to_json(self) -> dict:
        return {"counts": self.counts, "added": self.added, "new_versions": self.new_versions,
                "articles": self.articles, "removed": self.removed, "repealed": self.repealed,
                "pending": self.pending, "skipped": self.skipped}


def _docs(units: list[Unit]) -> dict[str, list[Unit]]:
    docs: dict[str, list[Unit]] = {}
    for u in sorted(units, key=lambda u: (u.doc_id, u.position)):
        docs.setdefault(u.doc_id, []).append(u)
    return docs


def _version(units: list[Unit]) -> str:
    return units[0].published or "（无日期）"


def compare(old: list[Unit], new: list[Unit], skipped: list[Skipped] | None = None) -> Changes:
    """The changes from `old` (the source's units in the serving index, with today's status) to
    `new` (the units just loaded, validity applied)."""
    before, after = _docs(old), _docs(new)
    titles_before: dict[tuple[str, str], list[str]] = {}
    titles_after: dict[tuple[str, str], list[str]] = {}
    for docs, titles in ((before, titles_before), (after, titles_after)):
        for doc_id, units in docs.items():
            titles.setdefault(_title(units[0]), []).append(doc_id)
    out = Changes(skipped=[{"path": s.path, "reason": s.reason} for s in skipped or []])
    touched: set[tuple[str, str]] = set()
    for key in sorted(titles_before.keys() | titles_after.keys()):
        olds, news = titles_before.get(key, []), titles_after.get(key, [])
        if not news:
            out.removed.append(before[olds[0]][0].law)
            touched.add(key)
            continue
        if set(olds) - set(news):  # a version taken out (usually replaced by the new one below)
            touched.add(key)
        if not olds:
            out.added.append(after[news[0]][0].law)
            touched.add(key)
        elif set(news) - set(olds):  # a version not seen before: diff it against the newest previous one
            latest_old = max(olds, key=lambda d: before[d][0].published)
            latest_new = max(news, key=lambda d: after[d][0].published)
            out.new_versions.append({"title": after[latest_new][0].law, "old": _version(before[latest_old]),
                                     "new": _version(after[latest_new])})
            out.articles += article_changes(after[latest_new][0].law, before[latest_old], after[latest_new])
            touched.add(key)
        for doc_id in news:
            units = after[doc_id]
            if doc_id in before:
                if _signature(before[doc_id]) == _signature(units):
                    continue
                touched.add(key)
                if not set(news) - set(olds):
                    out.articles += article_changes(units[0].law, before[doc_id], units)
            was = before[doc_id][0].status if doc_id in before else None
            now = units[0]
            if now.status != was and now.status in _NOT_IN_FORCE + (PENDING,):
                entry = {"title": now.law, "version": _version(units), "status": now.status, "note": now.status_note}
                (out.pending if now.status == PENDING else out.repealed).append(entry)
    for key in sorted(touched):
        out.remove_docs += [d for d in titles_before.get(key, [])]
        out.add += [u for d in titles_after.get(key, []) for u in after[d]]
    return out


def render(name: str, changes: Changes, dry_run: bool) -> str:
    """The report as text, in Chinese like the rest of the command line."""
    c = changes.counts
    lines = [f"{'【试运行，未更新索引】' if dry_run else ''}{name}：新增 {c['added']} 件，新版本 {c['new_versions']} 件，"
             f"条文变化 {c['articles_changed']} 条，移除 {c['removed']} 件，废止/失效 {c['repealed']} 件，"
             f"尚未施行 {c['pending']} 件，跳过 {c['skipped']} 个文件"]
    lines += [f"  新增：{t}" for t in changes.added]
    lines += [f"  新版本：{v['title']}（{v['old']} → {v['new']}）" for v in changes.new_versions]
    for a in changes.articles:
        lines.append(f"  条文{a['change']}：《{a['title']}》{a['article']}")
        lines += ["    " + line for line in a["diff"].split("\n") if line]
    lines += [f"  移除：{t}" for t in changes.removed]
    lines += [f"  {r['status']}：{r['title']}（{r['note'] or r['version']}）" for r in changes.repealed + changes.pending]
    lines += [f"  跳过 {s['path']}：{s['reason']}" for s in changes.skipped]
    return "\n".join(lines)
