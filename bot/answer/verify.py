"""Citation check on every answer, whichever composer wrote it.

Each 《法名》第N条 (or 法名第N条, and 、第M条 chained after it) is resolved against the knowledge
base: a sentence citing a law or article the base does not hold is removed and the citation
listed; an article that is not in force is labelled. [n] markers for sources that were not given
are dropped. Citations inside a verbatim quote of a given source are the source's own words and
are left alone, unless they name an article that a law the base holds does not have (a document
can carry a fabricated 第九百九十九条 as well as a model can). Text is checked sentence by
sentence, so a stream can be checked as it arrives.
"""
from __future__ import annotations

import re

from ..numerals import ARTICLE_RE
from ..retrieval.lookup import article_on
from ..retrieval.search import Filters, Hit, KnowledgeBase
from ..units import CURRENT, POLICY_LEVEL
from .evidence import Source, make_source
from .models import Citation, RemovedCitation
from .privacy import SecretScrubber

_MARKER = re.compile(r"[\[［【]\s*(\d{1,3}(?:\s*[,，、]\s*\d{1,3})*)\s*[\]］】]")
_NAME_BEFORE = re.compile(r"(《[^《》\n]{1,80}》|[\u4e00-\u9fff（）]{2,40}?(?:法典|法|条例|规定|解释|办法|决定))\s*$")
_DEICTIC = re.compile(r"(本|该|此|上述|前述|相关|有关|这部|这一|同一|各|其他)(法典|法律|法|条例|规定|解释|办法|决定)$")
_LEAD_IN = re.compile(r"^(根据|依据|依照|按照|参照|适用|违反|对照|按|依|据|和|及|与|或)+")
_JOINER = re.compile(r"^\s*(、|，|,|和|及|或|以及|或者|与|至|到)\s*$")
_QUOTE = re.compile(r"「([^「」]*)」")
_CUT = "。！？!?\n"


def citation_of(src: Source) -> Citation:
    u = src.unit
    return Citation(unit_id=u.uid, law=u.law, article=u.article or u.heading_path, status=u.status, quote=src.quote(),
                    level=u.level, status_note=u.status_note, issuer=u.issuer, doc_number=u.doc_number,
                    valid_from=u.valid_from, valid_to=u.valid_to, text=u.text, region=u.region,
                    interpretation=u.extra.get("interpretation", "") if u.level == POLICY_LEVEL else "",
                    reviewed_by=u.extra.get("reviewed_by", ""), n=src.n)


class Verifier:
    def __init__(self, kb: KnowledgeBase, question: str, sources: list[Source], secrets: tuple[str, ...] = ()):
        self.kb, self.question, self.sources = kb, question, sources
        self._scrub = SecretScrubber(secrets)
        self.by_uid = {s.unit.uid: s for s in sources}
        self.cited: dict[str, Citation] = {}
        self.removed: list[RemovedCitation] = []
        self._buffer = ""

    @property
    def citations(self) -> list[Citation]:
        return list(self.cited.values())

    # ---- streaming -------------------------------------------------------------------------
    def feed(self, chunk: str) -> str:
        """Checked text of every sentence completed by chunk; the unfinished rest waits."""
        self._buffer += chunk
        cut = _last_cut(self._buffer)
        done, self._buffer = self._buffer[:cut], self._buffer[cut:]
        return self._check(done)

    def flush(self) -> str:
        done, self._buffer = self._buffer, ""
        return self._check(done)

    def run(self, text: str) -> str:
        return self.feed(text) + self.flush()

    # ---- checking --------------------------------------------------------------------------
    def _check(self, text: str) -> str:
        return "".join(self._sentence(s) for s in _sentences(text))

    def _sentence(self, s: str) -> str:
        verbatim = [m.span() for m in _QUOTE.finditer(s) if self._is_verbatim(m.group(1))]
        found, bad = [], []
        for m, name, label in _references(s):
            if name is None:
                continue
            quoted = any(a <= m.start() < b for a, b in verbatim)
            resolved = self._resolve(name, m.group(0))
            if quoted and resolved != "unknown_article":
                continue  # a source's own words; a law the base lacks may be cited there
            if isinstance(resolved, str):
                bad.append(RemovedCitation(text=label, reason=resolved))
            else:
                found.append((m.end(), resolved))
        if bad:
            self.removed += bad
            return ""
        for _, hit in found:
            self._cite(hit)
        for end, hit in reversed(found):  # label from the end so earlier offsets stay valid
            tag = f"（{hit.unit.status}）"
            if hit.unit.status != CURRENT and hit.unit.status not in s[end:end + 12]:
                s = s[:end] + tag + s[end:]
        s = _MARKER.sub(self._marker, s)
        return self._scrub(s)

    def _resolve(self, name: str, article: str) -> Hit | str:
        """The unit cited, or why it cannot be: unknown_law / unknown_article."""
        law = _law(self.kb, name)
        if law is None:
            return "unknown_law"
        hits = self.kb.article(law, article) or self.kb.article(law, article, Filters(status=["all"]))
        return hits[0] if hits else "unknown_article"

    def _marker(self, m: re.Match) -> str:
        kept = []
        for n in (int(x) for x in re.split(r"\s*[,，、]\s*", m.group(1))):
            if 1 <= n <= len(self.sources):
                kept.append(n)
                self._cite(self.sources[n - 1].hit)
            else:
                self.removed.append(RemovedCitation(text=f"[{n}]", reason="unknown_source"))
        return f"[{','.join(map(str, kept))}]" if kept else ""

    def _cite(self, hit: Hit) -> None:
        uid = hit.unit.uid
        if uid not in self.cited:
            src = self.by_uid.get(uid) or make_source(self.kb, 0, hit, self.question)
            self.cited[uid] = citation_of(src)

    def _is_verbatim(self, quoted: str) -> bool:
        """Whether a quote is the words of one given source (marks, elisions and layout aside)."""
        parts = [p for p in re.split(r"……|…", _plain(quoted)) if p]
        return bool(parts) and any(all(p in _plain(s.unit.text) for p in parts) for s in self.sources)


def _references(s: str):
    """Each article a sentence cites: (match of 第N条, the law's name as written or None, label).
    A 第N条 chained after another (、第四十条) takes that one's law; 本法/该法 and the like name none."""
    prev_name, prev_end = None, -1
    for m in ARTICLE_RE.finditer(s):
        if prev_name and _JOINER.match(s[prev_end:m.start()]):
            name, label = prev_name, m.group(0)  # 、第四十条 after 《劳动合同法》第三十九条: same law
        else:
            named = _NAME_BEFORE.search(s[max(0, m.start() - 60):m.start()])
            name = _LEAD_IN.sub("", named.group(1)) if named else None
            name = None if name is None or _DEICTIC.search(name.strip("《》")) else name
            label = f"{name}{m.group(0)}"
        prev_name, prev_end = name, m.end()
        yield m, name, label


def _law(kb: KnowledgeBase, name: str) -> str | None:
    bare = name.strip("《》")
    return kb.aliases.resolve(bare) or kb.aliases.law_ending(bare)


def check_citations(kb: KnowledgeBase, text: str) -> list[dict]:
    """Every 《法名》第N条 of a text (法名第N条, 、第M条 chained after one), checked against the
    knowledge base on its day (`kb.on(day)` for another): `result` is "exists" (a version is in
    force that day, its text given), "not_in_force" (the base has the article but no version of
    it was in force: pending, repealed or superseded, with that version's status, dates and text,
    and what replaces it where known) or "unknown" (`reason` unknown_law: a law the base does not
    hold; unknown_article: the law has no such article). Each article once, in text order."""
    out, seen = [], set()
    for sentence in _sentences(text or ""):
        for m, name, _ in _references(sentence):
            if name is None:
                continue
            law = _law(kb, name)
            key = (law or name, m.group(0))
            if key in seen:
                continue
            seen.add(key)
            # as written; a found article's canonical citation, law and article replace the last three
            cited = {"cited": f"{name}{m.group(0)}", "citation": f"{name}{m.group(0)}", "law": law or "",
                     "article": m.group(0)}
            found = article_on(kb, law, m.group(0), context=0) if law else None
            if found is None:
                out.append(cited | {"result": "unknown", "reason": "unknown_law" if law is None else "unknown_article"})
                continue
            in_force = found.pop("found") == "in_force"
            found.pop("neighbours")
            out.append(cited | {"result": "exists" if in_force else "not_in_force",
                                "reason": "" if in_force else found["status"]} | found)
    return out


def _plain(text: str) -> str:
    return re.sub(r"[\s【】]", "", text)


def _sentences(text: str) -> list[str]:
    """Text cut after each sentence end that is not inside 「」 (a quote is checked whole)."""
    out, start, depth = [], 0, 0
    for i, ch in enumerate(text):
        depth += (ch == "「") - (ch == "」")
        if ch in _CUT and depth <= 0:
            out.append(text[start:i + 1])
            start = i + 1
    if start < len(text):
        out.append(text[start:])
    return out


def _last_cut(text: str) -> int:
    """Where the completed sentences of a growing text end."""
    parts = _sentences(text)
    if parts and parts[-1] and parts[-1][-1] not in _CUT:
        return len(text) - len(parts[-1])
    return len(text)
