"""Hand-over tickets: a resident's question handed to the grid's legal adviser, the adviser's reply
(every 《…》第N条 checked by the answers' citation verifier before it is sent), the resident's 好/差,
and the draft Q&A card an adviser makes from a reply.

`TicketDesk` holds the rules over bot.records (the storage, one transaction per change, so that
concurrent writers lose nothing and a restart loses nothing):

* a ticket is found by its code (12 characters of an alphabet without look-alikes, ~59 bits:
  unguessable; look-ups are throttled per client by `Throttle`), and the resident's view of it
  never holds the contact, only a masked form;
* an adviser sees the tickets of the grids the account covers, oldest first (an admin sees all);
  the contact is shown to them only, and stays out of logs, exports and the resident's view;
* text in tickets and replies is data: stored, checked, escaped when shown, never followed;
* status: 待处理 → 已回复 (a reply; more may follow) → 已关闭 (the resident's rating, or closed).

Errors are `LoopError`s with the HTTP status they map to (400, 403, 404, 409, 422, 429).
"""
from __future__ import annotations

import re
import secrets
import time
import unicodedata
from collections.abc import Callable
from datetime import date, datetime

from ..answer.models import Citation
from ..answer.handover import REASONS
from ..answer.verify import Verifier
from ..records import RATINGS, Records, redact_log
from ..sources import LoadError
from ..sources.knowledge import QACard, normalise_question, qa_card
from .accounts import Session
from .grids import Grids
from .models import CardDraft, QueueItem, Reply, ReplyCheck, SourceRef, TicketDetail, TicketView

CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L
CODE_LENGTH = 12
MAX_QUESTION = 2000
MAX_TURN = 4000
MAX_HISTORY = 20
MAX_CONTACT = 60
MAX_REPLY = 2000
MIN_REPLY = 4
STATUSES = ("待处理", "已回复", "已关闭")


class LoopError(Exception):
    status, code = 400, "bad_request"

    def __init__(self, message: str, **extra):
        super().__init__(message)
        self.message, self.extra = message, extra


class NotFound(LoopError):
    status, code = 404, "not_found"


class Forbidden(LoopError):
    status, code = 403, "forbidden"


class Conflict(LoopError):
    status, code = 409, "conflict"


class Invalid(LoopError):
    status, code = 422, "invalid_request"


class UnverifiedCitations(Invalid):
    code = "unverified_citations"


class Throttled(LoopError):
    status, code = 429, "rate_limited"


class Throttle:
    """At most `per_minute` calls per key (a client) in any 60 s; 0: unlimited. The calls are
    counted in the records database (`bucket` names what is limited), so the limit holds across
    worker processes."""

    def __init__(self, per_minute: int, records: Records, bucket: str):
        self.per_minute, self.records, self.bucket = per_minute, records, bucket

    def __call__(self, key: str, record: bool = True) -> None:
        """Raise Throttled when `key` used its calls of the last minute; else count this one
        (record=False: only check)."""
        if self.per_minute <= 0:
            return
        now = time.time()
        recent = self.records.recent_hits(self.bucket, key or "-", now, self.per_minute, record)
        if len(recent) >= self.per_minute:
            wait = max(1, int(60 - (now - recent[0])) + 1)  # when the oldest call leaves the minute
            raise Throttled(f"请求过于频繁：每分钟最多 {self.per_minute} 次，请 {wait} 秒后再试", retry_after=wait)


# ---- codes, text ---------------------------------------------------------------------------------
def new_code() -> str:
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    return "-".join(raw[i:i + 4] for i in range(0, CODE_LENGTH, 4))


def normal_code(text: str | None) -> str | None:
    """A code as typed (lower case, spaces, dashes, full-width) in its stored form, or None."""
    raw = re.sub(r"[^0-9A-Z]", "", unicodedata.normalize("NFKC", text or "").upper())
    if len(raw) != CODE_LENGTH or any(c not in CODE_ALPHABET for c in raw):
        return None
    return "-".join(raw[i:i + 4] for i in range(0, CODE_LENGTH, 4))


def clean_text(text: str | None) -> str:
    """Text as written, without control and format characters (newlines kept, three or more folded)."""
    text = (text or "").encode("utf-8", "replace").decode("utf-8").replace("\r\n", "\n")
    text = "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch) not in ("Cc", "Cf"))
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def mask_contact(contact: str) -> str:
    """138****5678 for the resident's own view; nothing of a short contact."""
    c = contact.strip()
    if not c:
        return ""
    return f"{c[:3]}****{c[-2:]}" if len(c) >= 8 else "****"


def age_hours(stamp: str, now: datetime | None = None) -> float:
    try:
        return max(0.0, ((now or datetime.now()) - datetime.fromisoformat(stamp)).total_seconds() / 3600)
    except ValueError:
        return 0.0


def age_text(hours: float) -> str:
    if hours < 1:
        return f"{max(1, int(hours * 60))} 分钟"
    if hours < 48:
        return f"{int(hours)} 小时"
    return f"{int(hours // 24)} 天"


def _citation(c: Citation) -> dict:
    return c.model_dump(exclude={"text"})


class TicketDesk:
    """The loop's rules over the records. `grids` and `kb` are callables (the grids file and the
    knowledge base can change while the service runs)."""

    def __init__(self, records: Records, grids: Callable[[], Grids], kb: Callable[[], object]):
        self.records, self._grids, self._kb = records, grids, kb

    # ---- residents ---------------------------------------------------------------------------
    def create(self, question: str, history=(), grid: int | None = None, contact: str = "", answer=None,
               reason: str = "asked", question_id: int | None = None) -> TicketView:
        """Hand a question over to the advisers of `grid`; returns the resident's view with the code."""
        question = clean_text(question)
        if not question:
            raise LoopError("问题是空的：请写下您想请法律顾问解答的问题")
        if len(question) > MAX_QUESTION:
            raise Invalid(f"问题过长（{len(question)} 字，上限 {MAX_QUESTION} 字）")
        grids = self._grids()
        if grid is None or grid not in grids:
            raise Invalid(f"网格 {grid} 不在本区的网格名单中：请从列表中选择您所在的社区和网格")
        contact = clean_text(contact).replace("\n", " ")
        if len(contact) > MAX_CONTACT:
            raise Invalid(f"联系方式过长（上限 {MAX_CONTACT} 字）")
        if reason not in REASONS:
            raise Invalid(f"转办原因只能是 {'、'.join(REASONS)}")
        history = list(history or [])
        if len(history) > MAX_HISTORY:
            history = history[-MAX_HISTORY:]
        turns = [[redact_log(clean_text(q))[:MAX_TURN], redact_log(clean_text(a))[:MAX_TURN]] for q, a in history]
        sources = [SourceRef(label=c.label, unit_id=c.unit_id, status=c.status, quote=c.quote).model_dump()
                   for c in (answer.citations if answer is not None else [])]
        for _ in range(8):
            code = new_code()
            tid = self.records.add_ticket(
                code, grid, redact_log(question), turns, clean_text(answer.answer)[:MAX_TURN] if answer is not None else "",
                sources, answer.decision if answer is not None else "", reason, contact, question_id)
            if tid is not None:
                return self._view(self.records.ticket(tid))
        raise RuntimeError("could not draw an unused ticket code")  # pragma: no cover (59 bits)

    def view(self, code: str | None) -> TicketView:
        row = self._by_code(code)
        return self._view(row)

    def rate(self, code: str | None, rating: str, reason: str = "") -> TicketView:
        rating = {"好": "good", "差": "bad"}.get(rating, rating)
        if rating not in RATINGS:
            raise Invalid("评价只能是 好（good）或 差（bad）")
        row = self._by_code(code)
        if not self.records.rate_ticket(row["id"], rating, clean_text(reason)):
            if row["rating"] or self.records.ticket(row["id"])["rating"]:
                raise Conflict("这张转办单已经评价过了")
            raise Conflict("法律顾问还没有回复，回复后才能评价")
        return self._view(self.records.ticket(row["id"]))

    def _by_code(self, code: str | None) -> dict:
        normal = normal_code(code)
        row = self.records.ticket(code=normal) if normal else None
        if row is None:
            raise NotFound("没有这个查询码的转办单：请核对查询码（12 位字母和数字）")
        return row

    def _view(self, row: dict) -> TicketView:
        return TicketView(code=row["code"], status=row["status"], grid=row["grid"],
                          grid_label=self._grids().label(row["grid"]), created=row["created"], updated=row["updated"],
                          question=row["question"], replies=self._replies(row["id"]), rating=row["rating"],
                          contact=mask_contact(row["contact"]))

    def _replies(self, ticket_id: int) -> list[Reply]:
        return [Reply(id=r["id"], adviser=r["adviser"], created=r["created"], text=r["text"],
                      citations=r["citations"]) for r in self.records.replies(ticket_id)]

    # ---- advisers ----------------------------------------------------------------------------
    def queue(self, session: Session, statuses: list[str] | None = None) -> list[QueueItem]:
        """The tickets of the session's grids (all for an admin), oldest first."""
        if statuses and set(statuses) - set(STATUSES):
            raise Invalid(f"状态只能是 {'、'.join(STATUSES)}")
        grids = None if session.is_admin else sorted(session.grids)
        now, labels = datetime.now(), self._grids()
        out = []
        for row in self.records.tickets(grids, statuses or None):
            hours = age_hours(row["created"], now)
            out.append(QueueItem(id=row["id"], status=row["status"], grid=row["grid"],
                                 grid_label=labels.label(row["grid"]), created=row["created"], age_hours=round(hours, 2),
                                 age=age_text(hours), question=row["question"][:120], reason=row["reason"]))
        return out

    def _own(self, session: Session, ticket_id: int) -> dict:
        row = self.records.ticket(ticket_id)
        if row is None:
            raise NotFound(f"没有编号为 {ticket_id} 的转办单")
        if not session.covers(row["grid"]):
            raise Forbidden(f"转办单 {ticket_id} 不属于您负责的网格")
        return row

    def detail(self, session: Session, ticket_id: int) -> TicketDetail:
        row = self._own(session, ticket_id)
        return TicketDetail(
            id=row["id"], status=row["status"], grid=row["grid"], grid_label=self._grids().label(row["grid"]),
            created=row["created"], updated=row["updated"], age_hours=round(age_hours(row["created"]), 2),
            question=row["question"], topic=row["topic"], conversation=[tuple(t) for t in row["conversation"]],
            answer=row["answer"], sources=row["sources"], decision=row["decision"], reason=row["reason"],
            contact=row["contact"], replies=self._replies(row["id"]), rating=row["rating"],
            rating_reason=row["rating_reason"])

    def check(self, text: str, question: str = "") -> ReplyCheck:
        """Every 《…》第N条 (and 法名第N条) of a reply resolved against the knowledge base, as the
        bot's own answers are: what cannot be found is listed, nothing is changed."""
        verifier = Verifier(self._kb(), question, [])
        verifier.run(clean_text(text))
        return ReplyCheck(ok=not verifier.removed, citations=verifier.citations, unknown=verifier.removed)

    def reply(self, session: Session, ticket_id: int, text: str) -> Reply:
        row = self._own(session, ticket_id)
        text = clean_text(text)
        if len(text) < MIN_REPLY:
            raise LoopError("回复是空的（或过短）：请用大白话写下答复，引用条文写作《法律名称》第N条")
        if len(text) > MAX_REPLY:
            raise Invalid(f"回复过长（{len(text)} 字，上限 {MAX_REPLY} 字）：请精简，或分两次回复")
        if row["status"] == "已关闭":
            raise Conflict(f"转办单 {ticket_id} 已关闭，不能再回复")
        result = self.check(text, row["question"])
        if not result.ok:
            names = "、".join(u.text for u in result.unknown)
            raise UnverifiedCitations(f"回复中有无法在知识库中核实的引用：{names}。请改正条号或删去后再发送（回复未发送）",
                                      unknown=[u.model_dump() for u in result.unknown])
        rid = self.records.add_reply(row["id"], session.name, text, [_citation(c) for c in result.citations])
        if rid is None:
            raise Conflict(f"转办单 {ticket_id} 已关闭，不能再回复")
        return next(r for r in self._replies(row["id"]) if r.id == rid)

    def close(self, session: Session, ticket_id: int) -> TicketDetail:
        self._own(session, ticket_id)
        if not self.records.close_ticket(ticket_id):
            raise Conflict(f"转办单 {ticket_id} 已关闭")
        return self.detail(session, ticket_id)

    # ---- draft cards -------------------------------------------------------------------------
    def prefill(self, row: dict, reply: dict) -> dict:
        """Card fields from a ticket and its reply: the question (and the earlier ones of the
        conversation) as phrasings, the reply as the answer, its citations as the basis."""
        question = row["question"]
        phrasings = []
        for q in [question] + [t[0] for t in row["conversation"]]:
            q = " ".join(q.split())[:120]
            if q and normalise_question(q) not in {normalise_question(p) for p in phrasings}:
                phrasings.append(q)
        articles = [f"{c['law']}{c['article']}" for c in reply["citations"] if re.match(r"^第.+条", c.get("article", ""))]
        title = re.sub(r"[？?。！!\s]+$", "", " ".join(question.split()))[:40]
        return {"title": title, "questions": phrasings[:6], "answer": " ".join(reply["text"].split()),
                "articles": list(dict.fromkeys(articles)), "topic": row["topic"], "audience": ["resident"],
                "scope": f"适用：{title}；不适用：", "referral": None}

    def problems(self, fields: dict) -> list[str]:
        """What keeps a draft from being published: the card schema's objections, and articles the
        knowledge base does not hold."""
        out = []
        try:
            card = qa_card(_card_fields(fields))
        except LoadError as exc:
            out += [p.strip() for p in str(exc).removeprefix("草稿: ").split("；") if p.strip()]
            card = None
        refs = card.articles if card else []
        if refs:
            check = self.check("。".join(f"《{a.law}》{a.article}" for a in refs) + "。")
            out += [f"字段 articles（法律依据）{u.text} 在知识库中找不到" for u in check.unknown]
        return out

    def draft_card(self, session: Session, ticket_id: int, fields: dict | None = None) -> CardDraft:
        """A draft card from the ticket's latest reply, prefilled, with `fields` over the prefill."""
        row = self._own(session, ticket_id)
        replies = self.records.replies(ticket_id)
        if not replies:
            raise Conflict(f"转办单 {ticket_id} 还没有回复：先回复，再把回复做成卡片")
        merged = self.prefill(row, replies[-1]) | _card_fields(fields or {}, partial=True)
        cid = self.records.add_card(ticket_id, replies[-1]["id"], session.name, merged)
        return self.draft(cid)

    def update_draft(self, session: Session, card_id: int, fields: dict) -> CardDraft:
        d = self.draft(card_id)
        if not session.is_admin and d.author != session.name:
            raise Forbidden(f"草稿 {card_id} 不是您写的")
        if not self.records.update_card(card_id, d.fields | _card_fields(fields, partial=True)):
            raise Conflict(f"草稿 {card_id} 已{'发布' if d.status == 'published' else '退回'}，不能再改")
        return self.draft(card_id)

    def draft(self, card_id: int) -> CardDraft:
        row = self.records.card(card_id)
        if row is None:
            raise NotFound(f"没有编号为 {card_id} 的卡片草稿")
        problems = self.problems(row["fields"]) if row["status"] == "draft" else []
        return CardDraft(**{k: row[k] for k in CardDraft.model_fields if k in row}, problems=problems)

    def drafts(self, status: str | None = None, session: Session | None = None) -> list[CardDraft]:
        if status not in (None, "draft", "published", "rejected"):
            raise Invalid("状态只能是 draft、published 或 rejected")
        rows = self.records.cards(status)
        if session is not None and not session.is_admin:
            rows = [r for r in rows if r["author"] == session.name]
        return [self.draft(r["id"]) for r in rows]

    def final_card(self, card_id: int, reviewer: str, today: date) -> QACard:
        """The card a draft publishes as, reviewed by `reviewer` today; Invalid lists what to fix."""
        d = self.draft(card_id)
        if d.status != "draft":
            raise Conflict(f"卡片 {card_id} 已{'发布' if d.status == 'published' else '退回'}")
        if d.problems:
            raise Invalid("卡片还不能发布：" + "；".join(d.problems), problems=d.problems)
        return qa_card(_card_fields(d.fields) | {"reviewed_by": reviewer, "reviewed_on": today.isoformat()})

    def mark_published(self, card_id: int, reviewer: str, card: QACard, **where) -> CardDraft:
        fields = _card_fields(card.model_dump(mode="json", exclude={"kind"}), partial=True)
        fields["articles"] = [a.citation for a in card.articles]
        if not self.records.review_card(card_id, "published", reviewer, fields=fields, **where):
            raise Conflict(f"卡片 {card_id} 已不是草稿")
        return self.draft(card_id)

    def reject(self, session: Session, card_id: int, note: str = "") -> CardDraft:
        if not session.is_admin:
            raise Forbidden("只有管理员可以退回卡片")
        d = self.draft(card_id)
        if not self.records.review_card(card_id, "rejected", session.name, clean_text(note)[:1000]):
            raise Conflict(f"卡片 {card_id} 已{'发布' if d.status == 'published' else '退回'}")
        return self.draft(card_id)


CARD_KEYS = ("title", "questions", "answer", "articles", "topic", "audience", "scope", "referral",
             "reviewed_by", "reviewed_on")


def _card_fields(fields: dict, partial: bool = False) -> dict:
    """The card's own fields of a mapping, text cleaned; the questions one per line or a list."""
    out = {}
    for k in CARD_KEYS:
        if k not in fields or (partial and fields[k] is None and k != "referral"):
            continue
        v = fields[k]
        if k in ("questions", "articles", "audience") and isinstance(v, str):
            v = [x.strip() for x in re.split(r"[\n；;]+" if k != "audience" else r"[\s,，]+", v) if x.strip()]
        elif isinstance(v, str):
            v = clean_text(v) if k != "answer" else " ".join(clean_text(v).split())
        elif isinstance(v, list):
            v = [clean_text(str(x)) for x in v if clean_text(str(x))]
        out[k] = v
    if "referral" in out and not out["referral"]:
        out["referral"] = None
    return out


__all__ = ["CODE_ALPHABET", "MAX_REPLY", "STATUSES", "TicketDesk", "Throttle", "LoopError", "NotFound", "Forbidden",
           "Conflict", "Invalid", "UnverifiedCitations", "Throttled", "normal_code", "new_code", "mask_contact"]
