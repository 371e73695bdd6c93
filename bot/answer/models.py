"""The answer object every front end renders (CLI, API, web app) and its parts."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from ..units import AUDIENCES, CURRENT

Audience = Literal[AUDIENCES]
DISCLAIMER = "以上为法律信息，不构成法律意见；具体问题请结合实际情况咨询律师或拨打 12348 公共法律服务热线。"


class Citation(BaseModel):
    """One source the answer relies on, resolved against the knowledge base."""

    unit_id: str
    law: str
    article: str  # 第八十二条, or the heading path of a non-article unit
    status: str
    quote: str  # the sentences of the unit that bear on the question
    level: str = ""
    status_note: str = ""
    issuer: str = ""
    doc_number: str = ""
    valid_from: str = ""
    valid_to: str = ""
    text: str = ""  # the full unit text (filled for advisers)
    region: str = ""
    interpretation: str = ""  # a policy's interpretation: a compilation's 律师解读, a card's 政策解读
    reviewed_by: str = ""  # who interpreted or reviewed it (the lawyer or firm of a compilation)
    n: int = 0  # the [n] the answer text refers to it by (0: named in the text without a number)

    @property
    def label(self) -> str:
        """《中华人民共和国劳动合同法》第三十一条, with its status when it is not in force."""
        return f"《{self.law}》{self.article}" + ("" if self.status == CURRENT else f"（{self.status}）")


class RemovedCitation(BaseModel):
    text: str  # as the composer wrote it: 《…》第九百九十九条, [7]
    reason: str  # unknown_law | unknown_article | unknown_source


class Referral(BaseModel):
    key: str  # the channel's key in knowledge/referrals.yaml
    channel: str
    phone: str = ""
    handles: str = ""  # what the channel deals with
    next_step: str = ""
    topics: list[str] = Field(default_factory=list, exclude=True)  # how it is chosen; not rendered

    @property
    def label(self) -> str:
        """The channel with its phone number, unless the name already says it."""
        return f"{self.channel}（{self.phone}）" if self.phone and self.phone not in self.channel else self.channel


class ClarifyOption(BaseModel):
    """One reading of an unclear question, offered to choose from (a button in the page)."""

    label: str  # what this reading is about, e.g. 《民法典》继承编·遗嘱继承
    question: str  # the question to ask when it is chosen


class Answer(BaseModel):
    question: str
    rewritten_question: str
    audience: Audience = "resident"
    answer: str = ""
    decision: Literal["answer", "clarify", "abstain", "decline"] = "answer"
    abstained: bool = False
    citations: list[Citation] = Field(default_factory=list)
    removed_citations: list[RemovedCitation] = Field(default_factory=list)
    referral: list[Referral] = Field(default_factory=list)
    composer: Literal["offline", "llm"] = "offline"
    fallback_reason: str = ""
    # answers: how likely the first statement rests on the governing rule or a fitting card
    # (`confidence`); declines: how surely the question is in scope (`abstain`)
    confidence: float = 0.0
    signals: dict[str, float] = Field(default_factory=dict, exclude=True)  # what `confidence` was computed from
    led_by: Literal["card", "statute", ""] = ""  # what the answer's first statement rests on
    card_fit: float = 0.0  # the fit of the best Q&A card among the hits (it leads only above the threshold)
    clarify: list[ClarifyOption] = Field(default_factory=list)  # readings to choose from when unsure
    card: str = ""  # advisers: a plain-text answer card to copy into a reply
    notes: list[str] = Field(default_factory=list)  # what the pipeline changed about the input
    # offer the hand-over to a grid legal adviser: "abstain", "clarify_twice" or "unsure" (bot.answer.handover)
    handover: Literal["", "abstain", "clarify_twice", "unsure"] = ""
    disclaimer: str = DISCLAIMER

    def to_json(self) -> dict:
        return self.model_dump()
