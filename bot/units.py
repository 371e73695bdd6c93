"""The unit of knowledge: one statute article, or one structural piece of a non-statute document.

Everything downstream (index, retriever, answer layer, apps) speaks in `Unit`s. A unit is plain
data so that it can be written to SQLite, shipped over JSON and rebuilt without surprises.
"""
from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from datetime import date

# Levels, highest authority first. The order matters: the retriever uses it as a feature.
LOCAL_LEVEL = "地方性法规"  # a province's or a city's regulations, the one statute level with a region of its own
POLICY_LEVEL = "政策"  # policy documents: policy cards of knowledge/, uploads, DOCX/PDF/HTML sources
QA_LEVEL = "问答"  # the Q&A cards of knowledge/
LEVELS = ("宪法", "法律", "行政法规", "司法解释", LOCAL_LEVEL, POLICY_LEVEL, QA_LEVEL)
CARD_LEVELS = (QA_LEVEL, POLICY_LEVEL)  # units that are not statute articles and cite the articles they rest on

# Who asks: residents (plain answers), grid legal advisers (full articles, an answer card) and
# enterprises (policy documents first).
AUDIENCES = ("resident", "adviser", "enterprise")

# Topics of policy documents (policy cards' `topic`; the enterprise page's filter).
POLICY_TOPICS = ("税费减免", "融资", "稳岗就业", "登记注册", "知识产权", "政府采购", "其他")

# Validity statuses. Computed as of a given day by bot.validity, never copied blindly.
CURRENT = "现行有效"
PENDING = "已公布尚未施行"
SUPERSEDED = "历史版本"
REPEALED = "已废止"
EXPIRED = "已失效"  # policies past their expiry date
STATUSES = (CURRENT, PENDING, SUPERSEDED, REPEALED, EXPIRED)


@dataclass
class Unit:
    """One retrievable piece of law or policy.

    `article` is the number as written (第八十二条, 第一百二十条之一) and `article_no` its integer
    (82, 120); both are empty/None for non-article units, which carry `heading_path` instead.
    `valid_from`/`valid_to` are the days this text is (or was) in force; `status` is derived
    from them as of a day by `bot.validity`, and moves on by itself (`status_on`) when an
    index built earlier is read on a later day.
    """

    uid: str
    law: str  # full document title, e.g. 中华人民共和国劳动合同法
    text: str  # full text, paragraphs separated by "\n"
    level: str
    source: str  # which loader/collection the unit came from, e.g. "laws.db", "corpus:司法解释"
    doc_id: str  # the document (one version of one law) the unit belongs to
    article: str = ""
    article_no: int | None = None
    sub_no: int | None = None  # the 一 of 第十条之一
    chapter: str = ""  # chapter / section path joined with " / "
    heading_path: str = ""  # for non-statute units: the headings above the unit
    issuer: str = ""
    region: str = ""  # 全国, 山东省, 济南市 …
    aliases: list[str] = field(default_factory=list)
    status: str = CURRENT
    status_note: str = ""
    ends_as: str = ""  # what the status becomes after valid_to: 历史版本, 已废止 or 已失效
    source_status: str = ""  # the label the source gave, kept as one input to validity
    published: str = ""  # ISO dates or ""
    valid_from: str = ""
    valid_to: str = ""
    doc_number: str = ""  # 文号, e.g. 法释〔2020〕28号
    position: int = 0  # order of the unit inside its document
    extra: dict = field(default_factory=dict)  # loader-specific metadata (front matter, cards)

    @property
    def citation(self) -> str:
        """The Chinese legal citation convention: 《中华人民共和国劳动合同法》第八十二条."""
        if self.article:
            return f"《{self.law}》{self.article}"
        return f"《{self.law}》{self.heading_path}".rstrip()

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Unit":
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)


def level_label(level: str, region: str) -> str:
    """A level as shown: a local regulation's with its region (地方性法规 · 济南市), since whether it
    applies depends on where one lives."""
    return f"{level} · {region}" if level == LOCAL_LEVEL and region else level


def stable_id(*parts: object) -> str:
    """A short id that stays the same as long as its identifying parts do."""
    digest = hashlib.sha1("\x1f".join(str(p) for p in parts).encode("utf-8")).hexdigest()
    return digest[:16]


def iso(d: date | str | None) -> str:
    if not d:
        return ""
    return d.isoformat() if isinstance(d, date) else str(d)[:10]
