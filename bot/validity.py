"""Validity computed from dates as of a day, with the source's label as one input.

Sources disagree with the calendar: laws.db labels the 2026 商标法 现行有效 although it only takes
effect on 2027-01-01, and the 2019 text that is in force until then 历史版本. The rules here:

* a version's force starts at max(published, effective) — an amendment's publication date stands
  in when the source only keeps the original law's effective date;
* among the versions of one document, the latest that has started is in force; later ones are
  已公布尚未施行, earlier ones 历史版本 (in force until the next one started);
* an explicit repeal (source label 已废止, a repeal decision, the override file) wins from its date;
  a dated repeal also explains a source's 已废止 label, so a law repealed by an act not yet in
  force (a code's 附则) is served as current until that act takes effect;
* a document the override file *restores* (the source labels it 已废止, but no act repealed it)
  has that label set aside, with the documented reason as its status note;
* a policy past its expiry date is 已失效.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from .lawnames import norm_title
from .units import CURRENT, EXPIRED, PENDING, POLICY_LEVEL, REPEALED, SUPERSEDED, Unit

_DATE_RE = re.compile(r"(\d{4})\s*[年\-./]\s*(\d{1,2})\s*[月\-./]\s*(\d{1,2})")


def parse_date(text: str | None) -> date | None:
    """First date in text: 2021-01-01, 2021年1月1日, 2021.1.1."""
    if not text:
        return None
    m = _DATE_RE.search(str(text))
    if not m:
        return None
    try:
        return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        return None


def _d(text: str) -> date | None:
    return date.fromisoformat(text) if text else None


@dataclass
class Version:
    """One version of one document, as far as validity is concerned."""

    key: str  # identifies the version (doc_id)
    published: date | None
    effective: date | None
    source_status: str = ""
    repealed_on: date | None = None
    expires: date | None = None

    @property
    def starts(self) -> date | None:
        dates = [d for d in (self.published, self.effective) if d]
        return max(dates) if dates else None


@dataclass
class Validity:
    status: str
    valid_from: str
    valid_to: str
    note: str = ""
    ends_as: str = ""  # the status after valid_to


def status_on(status: str, valid_from: str, valid_to: str, ends_as: str, day: str) -> str:
    """The status on `day` of a unit whose status was computed on an earlier day: a pending
    version comes into force on its date; a current one ends as `ends_as` once valid_to is
    reached (a policy stays in force through its expiry day)."""
    if status == PENDING and valid_from and valid_from <= day:
        status = CURRENT
    if status == CURRENT and valid_to:
        if ends_as == EXPIRED and valid_to < day:
            return EXPIRED
        if ends_as != EXPIRED and valid_to <= day:
            return ends_as or SUPERSEDED
    return status


def resolve_versions(versions: list[Version], today: date) -> dict[str, Validity]:
    """Status of each version of one document as of `today`."""
    ordered = sorted(versions, key=lambda v: (v.starts or date.min, v.key))
    started = [v for v in ordered if (v.starts or date.min) <= today and v.source_status != REPEALED]
    in_force = started[-1] if started else None
    out: dict[str, Validity] = {}
    for i, v in enumerate(ordered):
        start = v.starts.isoformat() if v.starts else ""
        nxt = next((w.starts for w in ordered[i + 1 :] if w.starts and w.starts > (v.starts or date.min)), None)
        if v.repealed_on and v.repealed_on <= today:
            out[v.key] = Validity(REPEALED, start, v.repealed_on.isoformat(), f"已于{v.repealed_on.isoformat()}废止")
        elif v.source_status == REPEALED:
            out[v.key] = Validity(REPEALED, start, "", "来源标注已废止")
        elif v.expires and v.expires < today:
            out[v.key] = Validity(EXPIRED, start, v.expires.isoformat(), f"已于{v.expires.isoformat()}到期")
        elif v.starts and v.starts > today:
            out[v.key] = Validity(PENDING, start, "", f"自{start}起施行", SUPERSEDED if nxt else "")
        elif v is in_force:
            note = ""
            if v.source_status and v.source_status not in (CURRENT, ""):
                note = f"来源标注“{v.source_status}”；按日期判断为现行文本"
            if nxt:
                note = "；".join(filter(None, [note, f"新版本自{nxt.isoformat()}起施行"]))
            if v.repealed_on:  # a repeal announced for a later day: say when
                note = "；".join(filter(None, [note, f"自{v.repealed_on.isoformat()}起废止"]))
            until = v.repealed_on or v.expires or nxt
            ends = REPEALED if v.repealed_on else EXPIRED if v.expires else SUPERSEDED if nxt else ""
            out[v.key] = Validity(CURRENT, start, until.isoformat() if until else "", note, ends)
        else:
            out[v.key] = Validity(SUPERSEDED, start, nxt.isoformat() if nxt else "", "已被新版本取代")
    return out


@dataclass
class Repeal:
    """A repeal of a whole document (by a decision, or a documented override)."""

    on: date | None
    by: str


@dataclass
class Restore:
    """A document the source labels 已废止 although no act repealed it: the override file names
    why the label is wrong and the evidence, and both are shown to users as the basis."""

    reason: str
    evidence: list[str]

    @property
    def note(self) -> str:
        return f"来源误标“已废止”，已更正：{self.reason}" + (f"（依据：{'；'.join(self.evidence)}）" if self.evidence else "")


def _source_status(h: Unit, repeal: Repeal | None, restore: Restore | None) -> str:
    """The source's label as the resolution should see it."""
    if repeal and not repeal.on:
        return REPEALED
    if h.source_status == REPEALED and (repeal or restore):
        # A dated repeal explains the label, so its date decides (a law repealed by an act that is
        # not yet in force stays current until then); a restore says the label is wrong.
        return ""
    return h.source_status


def apply_validity(units: list[Unit], today: date, repeals: dict[tuple[str, str], Repeal] | None = None,
                   restored: dict[tuple[str, str], Restore] | None = None) -> None:
    """Set status, valid_from, valid_to and status_note on every unit, in place.

    Versions are the distinct doc_ids sharing a normalised title and level (and, for policies,
    region); `repeals` maps
    (level, normalised title) to the decision that repealed it: a 司法解释 decision repeals
    司法解释 only, so a law it merely cites is never touched. `restored` maps (level, normalised
    title) to a documented correction of a wrong 已废止 label; a repeal of the same document wins
    (an act that repeals it is stronger evidence than the absence of one).
    """
    repeals, restored = repeals or {}, restored or {}
    docs: dict[str, Unit] = {}
    for u in units:
        docs.setdefault(u.doc_id, u)
    groups: dict[tuple[str, str, str], list[Unit]] = {}
    for u in docs.values():
        # a policy of one title issued for two regions (a national policy in a district's
        # compilation beside the national card) is two documents, not two versions of one
        groups.setdefault((norm_title(u.law), u.level, u.region if u.level == POLICY_LEVEL else ""), []).append(u)
    result: dict[str, Validity] = {}
    for (title, level, _), heads in groups.items():
        repeal = repeals.get((level, title))
        restore = None if repeal else restored.get((level, title))
        # a text re-issued under the same title after the repeal is not repealed by it
        hit = {h.doc_id: bool(repeal) and (_d(h.published) or date.min) < (repeal.on or date.max) for h in heads}
        versions = [
            Version(
                key=h.doc_id,
                published=_d(h.published),
                effective=_d(h.valid_from),
                source_status=_source_status(h, repeal if hit[h.doc_id] else None, restore),
                repealed_on=repeal.on if hit[h.doc_id] else None,
                expires=_d(h.valid_to) if h.level == POLICY_LEVEL else None,
            )
            for h in heads
        ]
        result.update(resolve_versions(versions, today))
        for h in heads:
            extra = (f"废止依据：{repeal.by}" if hit[h.doc_id] else
                     restore.note if restore and h.source_status == REPEALED else "")
            result[h.doc_id].note = "；".join(filter(None, [result[h.doc_id].note, extra]))
    for u in units:
        v = result[u.doc_id]
        u.status, u.valid_from, u.valid_to, u.status_note, u.ends_as = v.status, v.valid_from, v.valid_to, v.note, v.ends_as


OVERRIDES = Path(__file__).with_name("data") / "validity_overrides.json"


def _override_rows(path: Path, kind: str) -> list[dict]:
    if not path.exists():
        return []
    return json.loads(path.read_text(encoding="utf-8")).get(kind, [])


def load_overrides(path: Path = OVERRIDES) -> dict[tuple[str, str], Repeal]:
    """Known source errors, as repeals keyed by normalised title (see the file's own notes)."""
    return {(r["level"], norm_title(r["title"])): Repeal(parse_date(r.get("date")), r["reason"])
            for r in _override_rows(path, "repealed")}


def load_restored(path: Path = OVERRIDES) -> dict[tuple[str, str], Restore]:
    """Documents the source wrongly labels 已废止, keyed like load_overrides."""
    return {(r["level"], norm_title(r["title"])): Restore(r["reason"], list(r.get("evidence", [])))
            for r in _override_rows(path, "restored")}


def override_counts(units: list[Unit], path: Path = OVERRIDES) -> list[dict]:
    """Each entry of the override file that applies to some of `units`, with how many units it
    changes (a repeal: those published before its date; a restore: those labelled 已废止): what
    `python -m bot stats` reports as the overrides in force in an index."""
    by_key: dict[tuple[str, str], list[Unit]] = {}
    for u in units:
        by_key.setdefault((u.level, norm_title(u.law)), []).append(u)
    out = []
    for kind in ("repealed", "restored"):
        for r in _override_rows(path, kind):
            on = parse_date(r.get("date"))
            n = sum(1 for u in by_key.get((r["level"], norm_title(r["title"])), []) if (
                u.source_status == REPEALED if kind == "restored" else (_d(u.published) or date.min) < (on or date.max)))
            if n:
                out.append({"kind": kind, "level": r["level"], "title": r["title"], "date": r.get("date", ""), "units": n})
    return out


# ---- validity on another day, from what an index stores ------------------------------------------
@dataclass
class Stored:
    """One document's validity as an index stores it: computed on the day the index was built
    (`apply_validity`), with the dates it was computed from."""

    doc_id: str
    title: str  # normalised title: the versions of a document share it (and the level)
    level: str
    published: str
    status: str
    valid_from: str
    valid_to: str
    ends_as: str = ""
    note: str = ""

    def version(self) -> Version:
        """The version this row was resolved from, as far as the stored dates tell: valid_from
        is the day its force started, valid_to the day it ended or ends (and ends_as how)."""
        ends = self.ends_as if self.status in (CURRENT, PENDING) else self.status
        dated_repeal = self.status == REPEALED and bool(self.valid_to) or ends == REPEALED and bool(self.valid_to)
        return Version(
            key=self.doc_id, published=_d(self.published), effective=_d(self.valid_from),
            source_status=REPEALED if self.status == REPEALED and not self.valid_to else "",
            repealed_on=_d(self.valid_to) if dated_repeal else None,
            expires=_d(self.valid_to) if EXPIRED in (self.status, ends) and self.valid_to else None,
        )


@dataclass
class DayValidity(Validity):
    published_yet: bool = True  # False: the text did not exist yet on that day


def _moved(status: str, valid_from: str, valid_to: str) -> str:
    """The note of a status reached by its dates since the index was built."""
    return {CURRENT: f"自{valid_from}起施行", SUPERSEDED: f"已被新版本取代（新版本自{valid_to}起施行）",
            REPEALED: f"已于{valid_to}废止", EXPIRED: f"已于{valid_to}到期"}.get(status, "")


class Timeline:
    """The validity of every document of an index on any day, without rebuilding it.

    On or after the day the index was built (`built`), a status only moves on by its dates
    (`status_on`, what a knowledge base opened on a later day does). Before that day the versions
    of each document are resolved again (`resolve_versions`) from the stored dates: the 2019
    商标法 is 现行有效 on 2025-06-01 as on 2026-12-02, the 2026 text is 已公布尚未施行 until
    2027-01-01, and a text published after the day did not exist yet (`published_yet`). Where the
    status comes out as stored, the stored dates and note (which name sources and repeal
    decisions) are kept.
    """

    def __init__(self, docs: list[Stored]):
        self.docs = {d.doc_id: d for d in docs}
        self.groups: dict[tuple[str, str], list[Stored]] = {}
        for d in docs:
            self.groups.setdefault((d.title, d.level), []).append(d)

    def on(self, day: date, built: date) -> dict[str, DayValidity]:
        iso = day.isoformat()
        out: dict[str, DayValidity] = {}
        for heads in self.groups.values():
            resolved = resolve_versions([h.version() for h in heads], day) if day < built else {}
            for h in heads:
                status = status_on(h.status, h.valid_from, h.valid_to, h.ends_as, iso) if day >= built \
                    else resolved[h.doc_id].status
                if status == h.status:
                    v = DayValidity(status, h.valid_from, h.valid_to, h.note, h.ends_as)
                elif day >= built:  # moved on by its dates: say how, keeping the basis of a repeal
                    basis = "；".join(p for p in h.note.split("；") if p.startswith("废止依据"))
                    v = DayValidity(status, h.valid_from, h.valid_to, "；".join(filter(None, [
                        _moved(status, h.valid_from, h.valid_to), basis])), h.ends_as)
                else:
                    r = resolved[h.doc_id]
                    v = DayValidity(r.status, r.valid_from, r.valid_to, r.note, r.ends_as)
                if h.published and h.published > iso:
                    v = DayValidity(PENDING, h.valid_from, "", f"{iso}时尚未公布（{h.published}公布）", h.ends_as,
                                    published_yet=False)
                out[h.doc_id] = v
        return out
