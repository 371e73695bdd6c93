"""Library results as Markdown/HTML for the pages: answers with expandable citations, search hits
with highlighted matches, articles with their neighbours, policy rows. Rendering only."""
from __future__ import annotations

import html
import re

from bot.answer.models import DISCLAIMER, Answer
from bot.text import tokenize
from bot.units import CURRENT, EXPIRED, LOCAL_LEVEL, PENDING, POLICY_LEVEL, Unit, level_label

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
        local = f" · {esc(level_label(c.level, c.region))}" if c.level == LOCAL_LEVEL else ""
        label = f"{CIRCLED[i] if i < len(CIRCLED) else i + 1} {esc(c.label)}{local} · {badge(c.status)}"
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
        region = "" if u.level == LOCAL_LEVEL else u.region  # a local regulation's is in its level label
        parts = (level_label(u.level, u.region), badge(u.status), u.chapter, u.doc_number, region)
        meta = " · ".join(x for x in parts if x)
        exact = " <span class='farun-exact'>精确引用</span>" if h.exact else ""
        text = u.text if len(u.text) <= 400 else u.text[:400] + "…"
        items.append(f"<div class='farun-hit'><div class='farun-hit-title'>{i}. {esc(u.citation)}{exact}</div>"
                     f"<div class='farun-hit-meta'>{esc(meta)}</div><div>{highlight(text, query)}</div></div>")
    return "".join(items)


def article_markdown(unit: Unit, neighbours: list[Unit]) -> str:
    head = [f"### {esc(unit.citation)}",
            f"**效力**：{badge(unit.status)}{'（' + esc(unit.status_note) + '）' if unit.status_note else ''}　"
            f"**层级**：{esc(level_label(unit.level, unit.region))}　**制定机关**：{esc(unit.issuer) or '—'}　"
            f"**施行**：{esc(unit.valid_from) or '—'}"]
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



# ---- the loop with the grid advisers -----------------------------------------------------------
TICKET_STATUS = {"待处理": "⏳ 待处理", "已回复": "✅ 已回复", "已关闭": "☑️ 已关闭"}
HANDOVER_NOTES = {"asked": "居民主动转办", "abstain": "法润未能回答", "clarify_twice": "法润两次请居民补充", "unsure": "法润把握不大",
                  "bad_rating": "居民评价为差"}


def _lines(text: str) -> str:
    return esc(text).replace("\n", "<br>")


def citations_html(citations) -> str:
    items = []
    for c in citations:
        text = c.text or c.quote
        items.append(f"<details><summary>{esc(c.label)} · {badge(c.status)}</summary><blockquote>{_lines(text)}"
                     "</blockquote></details>")
    return "".join(items)


def ticket_markdown(view) -> str:
    """The resident's view of a ticket: status, the question, each reply with its citations."""
    parts = [f"**查询码** `{esc(view.code)}`　**状态** {TICKET_STATUS.get(view.status, esc(view.status))}　"
             f"**网格** {esc(view.grid_label)}　**提交** {esc(view.created.replace('T', ' '))}",
             f"<blockquote>{_lines(view.question)}</blockquote>"]
    if not view.replies:
        parts.append("法律顾问还没有回复，请稍后再用查询码查看。")
    for r in view.replies:
        parts.append(f"**法律顾问 {esc(r.adviser)} 的回复**（{esc(r.created.replace('T', ' '))}）\n\n{_lines(r.text)}")
        if r.citations:
            parts.append("**引用依据**（点击展开原文）" + citations_html(r.citations))
    if view.rating:
        parts.append(f"您的评价：{'好' if view.rating == 'good' else '差'}。谢谢！")
    parts.append(f"<sub>{DISCLAIMER}</sub>")
    return "\n\n".join(parts)


def ticket_detail_markdown(d) -> str:
    """An adviser's view of a ticket: the question (and conversation) beside the bot's answer and sources."""
    head = (f"### 转办单 {d.id}　{TICKET_STATUS.get(d.status, esc(d.status))}\n\n**网格** {esc(d.grid_label)}　"
            f"**提交** {esc(d.created.replace('T', ' '))}（已等待 {d.age_hours:.1f} 小时）　**主题** {esc(d.topic)}　"
            f"**原因** {esc(HANDOVER_NOTES.get(d.reason, d.reason))}　**联系方式** {esc(d.contact) or '未留'}")
    parts = [head, f"**居民的问题**<blockquote>{_lines(d.question)}</blockquote>"]
    if d.conversation:
        turns = "".join(f"<p><b>问</b>：{_lines(q)}<br><b>答</b>：{_lines(a[:400])}</p>" for q, a in d.conversation)
        parts.append(f"<details><summary>此前的对话（{len(d.conversation)} 轮）</summary>{turns}</details>")
    if d.answer:
        parts.append(f"**法润的回答**<blockquote>{_lines(d.answer)}</blockquote>")
    if d.sources:
        parts.append("**法润回答的依据**" + "".join(
            f"<details><summary>{esc(s.label)} · {badge(s.status)}</summary><blockquote>{_lines(s.quote)}</blockquote>"
            "</details>" for s in d.sources))
    for r in d.replies:
        parts.append(f"**{esc(r.adviser)} 的回复**（{esc(r.created.replace('T', ' '))}）<blockquote>{_lines(r.text)}</blockquote>")
    if d.rating:
        parts.append(f"居民评价：{'好' if d.rating == 'good' else '差'}{'（' + esc(d.rating_reason) + '）' if d.rating_reason else ''}")
    return "\n\n".join(parts)


def reply_check_markdown(check) -> str:
    if check.ok:
        found = "、".join(esc(c.label) for c in check.citations)
        return f"✅ 引用均已核实{'：' + found if found else '（回复中没有条文引用）'}。"
    bad = "、".join(f"{esc(u.text)}（{'知识库中没有这部法律或文件' if u.reason == 'unknown_law' else '没有这一条' if u.reason == 'unknown_article' else '无效的编号'}）"
                    for u in check.unknown)
    return f"⚠️ 以下引用无法核实，改正或删去后才能发送：{bad}"


def draft_problems_markdown(draft) -> str:
    if draft.status != "draft":
        return f"卡片 {draft.id} {'已发布' if draft.status == 'published' else '已退回'}。"
    if not draft.problems:
        return f"✅ 草稿 {draft.id} 已保存，可以发布：等待管理员审核。"
    return f"草稿 {draft.id} 已保存。发布前还要改正：\n" + "\n".join(f"- {esc(p)}" for p in draft.problems)


def card_preview_markdown(draft) -> str:
    """A draft card as the admin reviews it."""
    f = draft.fields
    questions = "".join(f"<li>{esc(q)}</li>" for q in f.get("questions") or [])
    articles = "、".join(esc(a) for a in f.get("articles") or []) or "（无）"
    parts = [f"### {esc(f.get('title', ''))}",
             f"**作者** {esc(draft.author)}　**转办单** {draft.ticket_id or '—'}　**状态** {esc(draft.status)}　"
             f"**主题** {esc(f.get('topic', ''))}",
             f"**问法**<ul>{questions}</ul>", f"**回答**<blockquote>{_lines(f.get('answer', ''))}</blockquote>",
             f"**法律依据** {articles}", f"**适用范围** {esc(f.get('scope', ''))}"]
    if draft.problems:
        parts.append("**发布前还要改正**\n" + "\n".join(f"- {esc(p)}" for p in draft.problems))
    if draft.note:
        parts.append(f"**审核意见** {esc(draft.note)}")
    return "\n\n".join(parts)
