"""What the loop hands the front ends (API responses, page rendering): pydantic models, so that
the API documents them in /api/docs as they are."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from ..answer.models import Citation, RemovedCitation

Status = Literal["待处理", "已回复", "已关闭"]
Rating = Literal["good", "bad"]


class SourceRef(BaseModel):
    """One source of the bot's answer, as the ticket keeps it."""

    label: str
    unit_id: str = ""
    status: str = ""
    quote: str = ""


class Reply(BaseModel):
    id: int
    adviser: str
    created: str
    text: str
    citations: list[Citation] = Field(default_factory=list, description="回复中经核实的条文引用")


class TicketView(BaseModel):
    """What the resident sees with the ticket code: no contact, no other ticket."""

    code: str
    status: Status
    grid: int
    grid_label: str
    created: str
    updated: str
    question: str
    replies: list[Reply] = Field(default_factory=list)
    rating: Rating | None = None
    contact: str = Field("", description="留下的联系方式（隐去中间部分）")


class TicketDetail(BaseModel):
    """What the grid's advisers and the admins see: the question beside the bot's answer and sources."""

    id: int
    status: Status
    grid: int
    grid_label: str
    created: str
    updated: str
    age_hours: float = Field(description="提交至今的小时数")
    question: str
    topic: str
    conversation: list[tuple[str, str]] = Field(default_factory=list, description="转办前的对话，每轮 [问题, 回答]")
    answer: str = Field("", description="法润给出的回答")
    sources: list[SourceRef] = Field(default_factory=list, description="法润回答的依据")
    decision: str = ""
    reason: str = Field("asked", description="转办原因：asked 居民主动、abstain 未能回答、clarify_twice 两次追问、unsure 把握不大、bad_rating 差评")
    contact: str = Field("", description="居民留下的联系方式（仅本网格顾问与管理员可见）")
    replies: list[Reply] = Field(default_factory=list)
    rating: Rating | None = None
    rating_reason: str = ""


class QueueItem(BaseModel):
    id: int
    status: Status
    grid: int
    grid_label: str
    created: str
    age_hours: float
    age: str = Field(description="等待时长，如 3 小时、2 天")
    question: str
    reason: str


class ReplyCheck(BaseModel):
    """The citation check of a reply before it is sent."""

    ok: bool
    citations: list[Citation] = Field(default_factory=list, description="能在知识库中核实的引用")
    unknown: list[RemovedCitation] = Field(default_factory=list, description="核实不了的引用：改正或删去后才能发送")


class CardDraft(BaseModel):
    """A Q&A card made from a reply: a draft until an admin publishes or rejects it."""

    id: int
    ticket_id: int | None
    reply_id: int | None
    author: str
    created: str
    updated: str
    status: Literal["draft", "published", "rejected"]
    fields: dict = Field(description="卡片字段：title、questions、answer、articles、topic、audience、scope（同 knowledge/README.md）")
    problems: list[str] = Field(default_factory=list, description="发布前还需改正的地方（空：可以发布）")
    reviewer: str = ""
    reviewed: str = ""
    note: str = ""
    doc_id: str = ""
    unit_id: str = ""
    file: str = Field("", description="发布后的卡片文件（var/cards/ 下）")
