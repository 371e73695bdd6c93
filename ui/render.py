"""Library results as Markdown/HTML for the pages: answers with expandable citations, search hits
with highlighted matches, articles with their neighbours, policy rows. Rendering only."""
from __future__ import annotations

import html
import re

from bot.answer.models import DISCLAIMER, Answer
from bot.text import tokenize
from bot.units import CURRENT, EXPIRED, PENDING, POLICY_LEVEL, Unit

CIRCLED = "①②③④⑤⑥⑦⑧⑨⑩⑪⑫"
STATUS_BADGE = {CURRENT: "现行有效", PENDING: "⚠ 已公布尚未施行", EXPIRED: "⚠ 已失效", "已废止": "⚠ 已废止",
                "历史版本": "⚠ 历史版本"}


def badge(status: str) -> str:
    return STATUS_BADGE.get(status, status)


def esc(text: str) -> str:
    return html.escape(text or "", quote=False)


def answer_markdown(answer: Answer, kb=None, enterprise: bool = False) -> str:
    """The answer text, then each citation as a <details> block that opens to the full article with
    law, chapter and status; notes; the disclaimer."""
    parts = [answer.answer]
    if answer.citations:
        parts.append("\n\n**引用依据**（点击展开原文）")
    for i, c in enumerate(answer.citations):
        unit = kb.unit(c.unit_id) if kb is not None else None
        label = f"{CIRCLED[i] if i < len(CIRCLED) else i + 1} {esc(c.label)} · {badge(c.status)}"
        rows = [f"<b>法规/文件</b>：{esc(c.law)}　<b>条目</b>：{esc(c.article)}",
                f"<b>效力</b>：{esc(c.status)}{'（' + esc(c.status_note) + '）' if c.status_note else ''}"]
        if unit is not None and unit.chapter:
            rows.append(f"<b>章节</b>：{esc(unit.chapter)}")
        if c.doc_number or c.issuer:
            rows.append(f"<b>文号</b>：{esc(c.doc_number) or '—'}　<b>发文机关</b>：{esc(c.issuer) or '—'}")
        if c.valid_from or c.valid_to or enterprise:
            rows.append(f"<b>施行</b>：{esc(c.valid_from) or '—'}　<b>截止</b>：{esc(c.valid_to) or '长期'}")
        if c.status != CURRENT:
            rows.append(f"⚠️ <b>注意：此条目{esc(c.status)}，不是现行有效的规定，仅供参考。</b>")
        if c.region and c.level == POLICY_LEVEL:
            rows.append(f"<b>地区</b>：{esc(c.region)}")
        if unit is not None and unit.level == POLICY_LEVEL and unit.extra.get("interpretation"):
            text = policy_text(unit)  # the interpretation goes beside it, under its own title
        else:
            text = unit.text if unit is not None else (c.text or c.quote)
        body = "<br>".join(rows) + "<blockquote>" + esc(text).replace("\n", "<br>") + "</blockquote>"
        if unit is not None and unit.level == POLICY_LEVEL and unit.extra.get("interpretation"):
            who = interpreter(unit)
            body += (f"<b>{interpretation_title(unit)}</b>{'（' + esc(who) + '）' if who else ''}："
                     f"<blockquote>{esc(unit.extra['interpretation']).replace(chr(10), '<br>')}</blockquote>")
        parts.append(f"\n<details><summary>{label}</summary>{body}</details>")
    for note in answer.notes:
        parts.append(f"\n\n> {note}")
    parts.append(f"\n\n<sub>{DISCLAIMER}</sub>")
    return "".join(parts)


def highlight(text: str, query: str) -> str:
    """Escaped text with the query's words (two characters or more) in <mark>."""
    words = sorted({t for t in tokenize(query) if len(t) >= 2 and not t.isdigit()}, key=len, reverse=True)
    out = esc(text)
    if words:
        out = re.sub("|".join(re.escape(esc(w)) for w in words[:30]), lambda m: f"<mark>{m.group(0)}</mark>", out)
    return out.replace("\n", "<br>")


def hits_html(hits: list, query: str) -> str:
    if not hits:
        return "<p>没有找到相关条文。可以换个说法，或放宽筛选条件（例如效力选“全部”）。</p>"
    items = []
    for i, h in enumerate(hits, 1):
        u = h.unit
        meta = " · ".join(x for x in (u.level, badge(u.status), u.chapter, u.doc_number, u.region) if x)
        exact = " <span class='farun-exact'>精确引用</span>" if h.exact else ""
        text = u.text if len(u.text) <= 400 else u.text[:400] + "…"
        items.append(f"<div class='farun-hit'><div class='farun-hit-title'>{i}. {esc(u.citation)}{exact}</div>"
                     f"<div class='farun-hit-meta'>{esc(meta)}</div><div>{highlight(text, query)}</div></div>")
    return "".join(items)


def article_markdown(unit: Unit, neighbours: list[Unit]) -> str:
    head = [f"### {esc(unit.citation)}",
            f"**效力**：{badge(unit.status)}{'（' + esc(unit.status_note) + '）' if unit.status_note else ''}　"
            f"**层级**：{esc(unit.level)}　**制定机关**：{esc(unit.issuer) or '—'}　**施行**：{esc(unit.valid_from) or '—'}"]
    if unit.chapter or unit.heading_path:
        head.append(f"**位置**：{esc(unit.chapter or unit.heading_path)}")
    if unit.doc_number:
        head.append(f"**文号**：{esc(unit.doc_number)}")
    head.append("\n" + esc(unit.text).replace("\n", "\n\n"))
    around = [n for n in neighbours if n.uid != unit.uid]
    if around:
        head.append("\n**相邻条文**")
        for n in around:
            title = n.article or n.heading_path or "（相邻段落）"
            head.append(f"<details><summary>{esc(title)}</summary>{esc(n.text).replace(chr(10), '<br>')}</details>")
    return "\n\n".join(head)


def hit_label(i: int, h) -> str:
    return f"{i}. {h.unit.citation}"[:80]


def policy_row(u: Unit) -> list[str]:
    return [u.law, u.doc_number or "—", u.issuer or "—", u.region or "—", u.extra.get("topic") or "其他",
            u.published or "—", u.valid_from or "—", u.valid_to or "长期", badge(u.status), interpreter(u) or "—"]


POLICY_HEADERS = ["标题", "文号", "发文机关", "地区", "主题", "发布", "施行", "截止", "效力", "解读"]
_INTERPRETATION_LINE = "政策解读："  # how a policy card's unit text labels its interpretation


def interpretation_title(u: Unit) -> str:
    """律师解读 for a compilation's section (a lawyer wrote it), 政策解读 for a card's own explanation."""
    return "律师解读" if u.extra.get("kind") == "compilation" else "政策解读"


def interpreter(u: Unit) -> str:
    """Who interpreted the policy: the lawyer or firm of a compilation's section (a card's reviewer
    only when the card says a person reviewed it)."""
    return (u.extra.get("reviewed_by") or "") if u.extra.get("interpretation") else ""


def policy_text(u: Unit) -> str:
    """The policy itself without its interpretation: a compilation section's text, or a card's lines
    before its 政策解读."""
    if u.extra.get("body"):
        return u.extra["body"]
    return "\n".join(line for line in u.text.split("\n") if not line.startswith(_INTERPRETATION_LINE))


def policy_html(u: Unit) -> str:
    """One policy as the enterprise page shows it: title, 文号, issuer, region, dates and status on
    top, then the policy text and its interpretation side by side (stacked on a phone)."""
    meta = [f"<b>文号</b>：{esc(u.doc_number) or '—'}", f"<b>发文机关</b>：{esc(u.issuer) or '—'}",
            f"<b>地区</b>：{esc(u.region) or '—'}", f"<b>发布</b>：{esc(u.published) or '—'}",
            f"<b>施行</b>：{esc(u.valid_from) or '—'}", f"<b>截止</b>：{esc(u.valid_to) or '长期'}",
            f"<b>效力</b>：{esc(badge(u.status))}{'（' + esc(u.status_note) + '）' if u.status_note else ''}"]
    warning = "" if u.status == CURRENT else (
        f"<p class='farun-notice'>⚠️ 此政策{esc(u.status)}，不是现行有效的政策，仅供了解历史口径。</p>")
    interpretation = u.extra.get("interpretation") or ""
    who = interpreter(u)
    side = (f"<div class='farun-policy-interpretation'><h4>{interpretation_title(u)}"
            f"{'（' + esc(who) + '）' if who else ''}</h4>{_paragraphs(interpretation)}</div>") if interpretation else (
        "<div class='farun-policy-interpretation'><h4>解读</h4><p>这份政策没有附解读。</p></div>")
    source = ""
    if u.extra.get("kind") == "compilation":
        source = (f"<p class='farun-hit-meta'>出自《{esc(u.extra.get('compilation', ''))}》第{u.extra.get('section')}节"
                  f"（{esc(u.extra.get('file', ''))}）</p>")
    return (f"<div class='farun-policy' id='policy-{esc(u.uid)}'><h3>{esc(u.law)}</h3>"
            f"<div class='farun-hit-meta'>{'　'.join(meta)}</div>{warning}"
            f"<div class='farun-policy-columns'><div class='farun-policy-text'><h4>政策内容</h4>"
            f"{_paragraphs(policy_text(u))}</div>{side}</div>{source}</div>")


def _paragraphs(text: str) -> str:
    return "".join(f"<p>{esc(line)}</p>" for line in (text or "").split("\n") if line.strip())
