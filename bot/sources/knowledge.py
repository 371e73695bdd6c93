"""The project's own knowledge: Q&A cards (普法问答), policy cards (惠企政策) and the referral
directory (referrals.yaml), all in `knowledge/` and described in `knowledge/README.md`.

A card is a Markdown file whose YAML front matter declares `kind: qa` or `kind: policy`;
`bot.sources.folder.load_file` hands such files to `load_card`. Every card is validated by a
pydantic schema, and a card that does not fit raises `LoadError("<file>: 字段 <field> …")`, so the
folder walker skips it with a reason a deployer can act on.

Each card becomes exactly one `Unit`:

* Q&A: level 问答, law = the card title, heading_path = the first question, text = every phrasing
  of the question followed by the answer (so BM25 and the encoder both see how people ask).
  `extra` carries the phrasings (`questions`), the answer, the citations and the card's `scope`
  (适用：…；不适用：…), which is kept out of the text so its 不适用 words do not attract queries.
* Policy: level 政策, law = the policy title, valid_from/valid_to = effective/expiry date; the
  status (现行有效 / 已失效) is left to `bot.validity.apply_validity`.
"""
from __future__ import annotations

import re
import unicodedata
from datetime import date
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..numerals import ARTICLE_RE, article_label, cn_to_int
from ..units import AUDIENCES, POLICY_LEVEL, POLICY_TOPICS, QA_LEVEL, Unit, iso, stable_id
from . import LoadError, read_text

SOURCE = "knowledge"
CARD_KINDS = ("qa", "policy")
QA_PREFIX = "普法问答："
MAX_ANSWER_CHARS = 200  # a plain answer people read on a phone; longer belongs in a policy card or a guide
MAX_SCOPE_CHARS = 150  # one line: 适用：…；不适用：…
AUDIENCE_NAMES = {"resident": "居民", "enterprise": "企业", "adviser": "网格法律顾问"}
ROOT = Path(__file__).resolve().parents[2] / "knowledge"
REFERRALS_FILE = "referrals.yaml"

_FIELD_NAMES = {  # Chinese names shown next to the field key in error messages
    "kind": "类型", "title": "标题", "questions": "问题问法", "answer": "回答", "articles": "法律依据",
    "topic": "主题", "audience": "适用人群", "referral": "转介渠道", "issuer": "发文机关",
    "doc_number": "文号", "published": "发布日期", "effective": "施行日期", "expires": "失效日期",
    "eligibility": "适用对象", "benefit": "优惠内容", "conditions": "享受条件", "how_to_apply": "办理方式",
    "interpretation": "政策解读", "successor": "接续政策", "law": "法律名称", "article": "条号",
    "key": "编号", "name": "名称", "phone": "电话", "handles": "受理事项", "when": "何时使用",
    "keywords": "关键词", "requires_source": "所需来源", "scope": "适用范围", "reviewed_by": "审核人",
    "reviewed_on": "审核日期",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ArticleRef(_Strict):
    """One article a card rests on: `law` as titled (中华人民共和国劳动合同法) and `article` as the
    statute writes it (第八十二条). `requires_source` names the level of a source that is not in
    the default laws.db (行政法规, 司法解释 …): the card cites it knowingly, and a deployer who
    wants it retrievable adds that corpus as a source."""

    law: str = Field(min_length=2)
    article: str
    requires_source: str = ""

    @field_validator("law")
    @classmethod
    def _law(cls, v: str) -> str:
        return re.sub(r"[《》〈〉\s]", "", v)

    @field_validator("article")
    @classmethod
    def _article(cls, v: str) -> str:
        m = ARTICLE_RE.fullmatch(v.strip())
        if not m or cn_to_int(m.group(1)) is None:
            raise ValueError(f"“{v}”不是条号（应写作 第八十二条 或 第82条）")
        return article_label(cn_to_int(m.group(1)), cn_to_int(m.group(2)) if m.group(2) else None)

    @property
    def number(self) -> tuple[int, int | None]:
        m = ARTICLE_RE.fullmatch(self.article)
        return cn_to_int(m.group(1)), (cn_to_int(m.group(2)) if m.group(2) else None)

    @property
    def citation(self) -> str:
        """The normalised citation string: 中华人民共和国劳动合同法第八十二条."""
        return f"{self.law}{self.article}"

    @classmethod
    def parse(cls, value: object) -> "ArticleRef":
        """From "中华人民共和国劳动合同法第八十二条", "《民法典》第1079条" or {law, article}."""
        if isinstance(value, ArticleRef):
            return value
        if isinstance(value, dict):
            return cls(**value)
        if isinstance(value, str):
            m = ARTICLE_RE.search(value)
            if not m or not value[: m.start()].strip("《》 "):
                raise ValueError(f"“{value}”应写作“法律名称+条号”，如 中华人民共和国劳动合同法第八十二条")
            return cls(law=value[: m.start()], article=value[m.start():])
        raise ValueError("应为“法律名称+条号”的字符串，或含 law、article 的对象")


def _articles(value: object) -> list[ArticleRef]:
    if not isinstance(value, list):
        raise ValueError("应为列表")
    return [ArticleRef.parse(v) for v in value]


class QACard(_Strict):
    """普法问答: several phrasings of one question, a plain answer and what it rests on."""

    kind: Literal["qa"]
    title: str = Field(min_length=2, max_length=60)
    questions: list[str] = Field(min_length=2)
    answer: str = Field(min_length=10)
    articles: list[ArticleRef] = Field(min_length=1)
    topic: str = Field(min_length=2)
    audience: list[Literal[AUDIENCES]] = Field(min_length=1)
    referral: str | None = None
    # 适用：<the situation the answer covers>；不适用：<look-alike situations it does not>. One line;
    # card-fit code reads it from unit.extra["scope"] to tell whether the card fits a question.
    scope: str = Field(min_length=8, max_length=MAX_SCOPE_CHARS)
    # who checked the card against the law, and when: empty until a person has actually done so
    reviewed_by: str = ""
    reviewed_on: date | None = None

    @model_validator(mode="before")
    @classmethod
    def _old_reviewed(cls, data: object) -> object:
        """`reviewed: <date>` (the first edition's field) is read as reviewed_on."""
        if isinstance(data, dict) and "reviewed" in data:
            data = dict(data)
            old = data.pop("reviewed")
            if data.get("reviewed_on") is None:
                data["reviewed_on"] = old
        return data

    @field_validator("reviewed_by", mode="before")
    @classmethod
    def _reviewed_by(cls, v: object) -> object:
        return "" if v is None else v

    @field_validator("scope")
    @classmethod
    def _scope(cls, v: str) -> str:
        if "\n" in v:
            raise ValueError("应写成一行：适用：……；不适用：……")
        if not v.startswith("适用：") or "不适用：" not in v:
            raise ValueError("应写作“适用：……；不适用：……”，先说卡片回答的情形，再说看着像但不适用的情形")
        covers, _, excludes = v.removeprefix("适用：").partition("不适用：")
        if len(covers.strip("；; ")) < 2 or len(excludes.strip("；;。 ")) < 2:
            raise ValueError("“适用：”和“不适用：”后面都要写内容")
        return v

    @model_validator(mode="after")
    def _review(self) -> "QACard":
        if bool(self.reviewed_by) != bool(self.reviewed_on):
            raise ValueError("reviewed_by：审核人和审核日期（reviewed_on）要一起填写，未经人工审核的两项都留空")
        return self

    @field_validator("title")
    @classmethod
    def _title(cls, v: str) -> str:
        return v if v.startswith(QA_PREFIX) else QA_PREFIX + v

    @field_validator("questions")
    @classmethod
    def _questions(cls, v: list[str]) -> list[str]:
        v = [str(q).strip() for q in v]
        if any(not q for q in v):
            raise ValueError("有空的问法")
        if len({normalise_question(q) for q in v}) < len(v):
            raise ValueError("同一张卡片里有重复的问法")
        return v

    @field_validator("answer")
    @classmethod
    def _answer(cls, v: str) -> str:
        v = " ".join(v.split())
        if len(v) > MAX_ANSWER_CHARS:
            raise ValueError(f"过长（{len(v)} 字，上限 {MAX_ANSWER_CHARS} 字）：请精简，细节放到法律依据里")
        return v

    @field_validator("articles", mode="before")
    @classmethod
    def _parse_articles(cls, v: object) -> list[ArticleRef]:
        return _articles(v)

    @field_validator("audience", mode="before")
    @classmethod
    def _audience(cls, v: object) -> object:
        return [v] if isinstance(v, str) else v


class PolicyCard(_Strict):
    """惠企政策: one policy document, its dates and what it gives to whom."""

    kind: Literal["policy"]
    title: str = Field(min_length=4)
    issuer: str = Field(min_length=2)
    doc_number: str = Field(min_length=4)
    published: date
    effective: date
    expires: date | None  # required key: write `expires: null` for a policy without an end date
    eligibility: str = Field(min_length=4)
    benefit: str = Field(min_length=4)
    conditions: str = Field(min_length=1)
    how_to_apply: str = Field(min_length=4)
    interpretation: str = Field(min_length=10)
    topic: Literal[POLICY_TOPICS]
    successor: list[str] = Field(default_factory=list)
    note: str = ""  # anything about its validity a reader must know (early stop, partial repeal …)
    region: str = "全国"
    audience: list[Literal[AUDIENCES]] = Field(default_factory=lambda: ["enterprise"])
    articles: list[ArticleRef] = Field(default_factory=list)
    reviewed: date | None = None

    @field_validator("successor", mode="before")
    @classmethod
    def _successor(cls, v: object) -> object:
        if v is None:
            return []
        return [v] if isinstance(v, str) else v

    @field_validator("audience", mode="before")
    @classmethod
    def _audience(cls, v: object) -> object:
        return [v] if isinstance(v, str) else v

    @field_validator("articles", mode="before")
    @classmethod
    def _parse_articles(cls, v: object) -> list[ArticleRef]:
        return _articles(v)

    @model_validator(mode="after")
    def _dates(self) -> "PolicyCard":
        if self.expires and self.expires < self.effective:
            raise ValueError("expires：失效日期早于施行日期")
        return self


class ReferralChannel(_Strict):
    """One service channel of the referral directory (what `answer.models.Referral` is made from)."""

    key: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    name: str = Field(min_length=2)
    phone: str | None = None
    handles: str = Field(min_length=4)  # what it deals with
    when: str = Field(min_length=4)  # when to turn to it
    keywords: list[str] = Field(min_length=1)
    scope: str = "全国"  # 全国 number, or 本地 (find the local office)
    note: str = ""

    @field_validator("phone", mode="before")
    @classmethod
    def _phone(cls, v: object) -> object:
        return str(v) if isinstance(v, int) else v  # YAML reads an unquoted 12348 as a number

    @field_validator("keywords", mode="before")
    @classmethod
    def _keywords(cls, v: object) -> object:
        return [str(k) if isinstance(k, int) else k for k in v] if isinstance(v, list) else v


Card = QACard | PolicyCard


# ---- errors --------------------------------------------------------------------------------

def _field_of(loc: tuple) -> str:
    parts = [str(p) for p in loc if not isinstance(p, int)]
    return ".".join(parts) or "(卡片)"


def _message(err: dict) -> str:
    kind, ctx = err["type"], err.get("ctx") or {}
    if kind == "missing":
        return "缺失（必填）"
    if kind == "extra_forbidden":
        return "不是可用的字段（拼写错误？可用字段见 knowledge/README.md）"
    if kind.startswith("date"):
        return f"不是有效的日期（应为 YYYY-MM-DD，实际为 {err.get('input')!r}）"
    if kind == "string_too_long":
        return f"过长（上限 {ctx.get('max_length')} 字）"
    if kind == "string_too_short":
        return f"过短或为空（至少 {ctx.get('min_length')} 字）"
    if kind == "too_short":
        return f"条目太少（至少 {ctx.get('min_length')} 条）"
    if kind == "literal_error":
        return f"取值 {err.get('input')!r} 不在允许范围内（{ctx.get('expected')}）"
    if kind == "string_pattern_mismatch":
        return f"取值 {err.get('input')!r} 格式不对（只用小写字母、数字和连字符）"
    if kind in ("string_type", "list_type", "dict_type"):
        return f"类型不对（实际为 {type(err.get('input')).__name__}）"
    msg = str(err.get("msg", ""))
    return msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")


def _error(path: Path | str, exc: ValidationError) -> LoadError:
    lines = []
    for err in exc.errors():
        field = _field_of(err["loc"])
        if err["type"] == "value_error" and not err["loc"] and "：" in str(err.get("msg", "")):
            field, _, rest = str(err["msg"]).removeprefix("Value error, ").partition("：")
            lines.append(f"字段 {field}（{_FIELD_NAMES.get(field, field)}）{rest}")
            continue
        head = field.split(".")[0]
        lines.append(f"字段 {field}（{_FIELD_NAMES.get(head, head)}）{_message(err)}")
    return LoadError(f"{path}: " + "；".join(lines))


# ---- cards ---------------------------------------------------------------------------------

class _CardLoader(yaml.SafeLoader):
    """SafeLoader that leaves dates as text, so the schema (not YAML) judges 2023-13-45."""


_CardLoader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:timestamp"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _front_matter(path: Path) -> tuple[dict, str]:
    text = read_text(path)
    if not text.startswith("---\n"):
        raise LoadError(f"{path}: 缺少 YAML front matter（文件应以 --- 开头）")
    end = text.find("\n---", 4)
    if end < 0:
        raise LoadError(f"{path}: front matter 没有结束标记 ---")
    try:
        meta = yaml.load(text[4:end], Loader=_CardLoader) or {}
    except yaml.YAMLError as exc:
        raise LoadError(f"{path}: front matter 不是有效的 YAML：{exc}") from exc
    if not isinstance(meta, dict):
        raise LoadError(f"{path}: front matter 必须是键值对")
    return meta, text[end + 4:].lstrip("\n")


def parse_card(path: Path, meta: dict | None = None, body: str | None = None) -> Card:
    """The validated card of one file. meta/body are the front matter and the text below it
    when the caller has already split them (bot.sources.folder does)."""
    if meta is None or body is None:
        meta, body = _front_matter(path)
    data = dict(meta)
    kind = data.get("kind")
    body = (body or "").strip()
    if kind == "qa":
        text_field = "answer"
    elif kind == "policy":
        text_field = "interpretation"
    else:
        raise LoadError(f"{path}: 字段 kind（类型）应为 qa 或 policy，实际为 {kind!r}")
    if body:
        if data.get(text_field):
            raise LoadError(f"{path}: 字段 {text_field}（{_FIELD_NAMES[text_field]}）既写在 front matter 里又写在正文里：只保留一处")
        data[text_field] = body
    model = QACard if kind == "qa" else PolicyCard
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _error(path, exc) from exc


def qa_card(data: dict, where: str = "草稿") -> QACard:
    """A Q&A card from its fields (a draft made in the page or the API); LoadError names each
    field that does not fit, as for a card file."""
    try:
        return QACard.model_validate({"kind": "qa", **data})
    except ValidationError as exc:
        raise _error(where, exc) from exc


def qa_markdown(card: QACard) -> str:
    """The card file of a Q&A card (front matter and the answer below it), as knowledge/README.md describes."""
    meta = {"kind": "qa", "title": card.title, "questions": card.questions, "topic": card.topic,
            "audience": card.audience, "referral": card.referral, "scope": card.scope,
            "reviewed_by": card.reviewed_by, "reviewed_on": iso(card.reviewed_on) or None,
            "articles": [a.citation if not a.requires_source else a.model_dump() for a in card.articles]}
    if meta["referral"] is None:
        del meta["referral"]
    head = yaml.safe_dump(meta, allow_unicode=True, sort_keys=False, width=1000)
    return f"---\n{head}---\n\n{card.answer}\n"


def card_doc_id(path: Path, kind: str) -> str:
    """Stable per file: the same file name of the same kind keeps its id wherever the folder lives."""
    return stable_id(SOURCE, kind, path.stem)


def card_unit(card: Card, path: Path) -> Unit:
    doc_id = card_doc_id(path, card.kind)
    if isinstance(card, QACard):
        return Unit(
            uid=stable_id(doc_id, 0, card.questions[0]),
            law=card.title,
            text="\n".join(card.questions + [card.answer]),
            level=QA_LEVEL,
            source=SOURCE,
            doc_id=doc_id,
            heading_path=card.questions[0],
            region="全国",
            extra={
                "kind": "qa", "file": path.name, "questions": card.questions, "answer": card.answer,
                "articles": [a.citation for a in card.articles],
                "article_refs": [a.model_dump() for a in card.articles],
                "topic": card.topic, "audience": card.audience, "referral": card.referral,
                "scope": card.scope, "reviewed_by": card.reviewed_by, "reviewed_on": iso(card.reviewed_on),
            },
        )
    lines = [
        f"发文机关：{card.issuer}；文号：{card.doc_number}",
        f"适用对象：{card.eligibility}",
        f"优惠内容：{card.benefit}",
        f"享受条件：{card.conditions}",
        f"办理方式：{card.how_to_apply}",
        f"政策解读：{card.interpretation}",
    ]
    if card.note:
        lines.append(f"效力说明：{card.note}")
    if card.successor:
        lines.append(f"接续政策：{'；'.join(card.successor)}")
    extra = card.model_dump(mode="json")
    extra.update(file=path.name, articles=[a.citation for a in card.articles],
                 article_refs=[a.model_dump() for a in card.articles])
    return Unit(
        uid=stable_id(doc_id, 0, card.doc_number),
        law=card.title,
        text="\n".join(lines),
        level=POLICY_LEVEL,
        source=SOURCE,
        doc_id=doc_id,
        issuer=card.issuer,
        region=card.region,
        aliases=[card.title, card.doc_number],
        published=iso(card.published),
        valid_from=iso(card.effective),
        valid_to=iso(card.expires),
        doc_number=card.doc_number,
        extra=extra,
    )


def load_card(path: Path, meta: dict | None = None, body: str | None = None) -> list[Unit]:
    """The one unit of a card file (a list, like every loader returns)."""
    return [card_unit(parse_card(path, meta, body), path)]


def card_files(root: Path | None = None) -> list[Path]:
    """Every Markdown file below root that declares a card kind in its front matter."""
    root = Path(root or ROOT)
    out = []
    for path in sorted(root.rglob("*.md")):
        if path.name.upper() == "README.MD" or path.name.startswith("."):
            continue
        try:
            head = read_text(path)[:2000]
        except LoadError:
            continue
        if head.startswith("---\n") and re.search(r"^kind:\s*(qa|policy)\s*$", head, re.MULTILINE):
            out.append(path)
    return out


def load_cards(root: Path | None = None) -> list[tuple[Path, Card]]:
    """(file, card) for every card below root; the first invalid card raises its LoadError."""
    return [(path, parse_card(path)) for path in card_files(root)]


def normalise_question(text: str) -> str:
    """The form question phrasings are compared in: NFKC, lower case, letters and digits only."""
    text = unicodedata.normalize("NFKC", text).lower()
    return "".join(ch for ch in text if ch.isalnum())


def duplicate_questions(cards: list[tuple[Path, Card]]) -> list[tuple[str, list[str]]]:
    """Question phrasings that normalise to the same text on more than one card: (phrasing, files)."""
    seen: dict[str, set[str]] = {}
    first: dict[str, str] = {}
    for path, card in cards:
        if isinstance(card, QACard):
            for q in card.questions:
                key = normalise_question(q)
                seen.setdefault(key, set()).add(str(path))
                first.setdefault(key, q)
    return [(first[k], sorted(files)) for k, files in seen.items() if len(files) > 1]


# ---- referrals -----------------------------------------------------------------------------

def load_referrals(path: Path | str | None = None) -> dict[str, ReferralChannel]:
    """The referral directory (knowledge/referrals.yaml by default), key -> channel, in file order."""
    path = Path(path) if path else ROOT / REFERRALS_FILE
    try:
        data = yaml.safe_load(read_text(path))
    except FileNotFoundError as exc:
        raise LoadError(f"{path}: 找不到转介目录文件") from exc
    except yaml.YAMLError as exc:
        raise LoadError(f"{path}: 不是有效的 YAML：{exc}") from exc
    rows = data.get("referrals") if isinstance(data, dict) else None
    if not isinstance(rows, list) or not rows:
        raise LoadError(f"{path}: 字段 referrals（转介目录）缺失或不是列表")
    out: dict[str, ReferralChannel] = {}
    for i, row in enumerate(rows):
        try:
            ref = ReferralChannel.model_validate(row)
        except ValidationError as exc:
            err = _error(path, exc)
            raise LoadError(str(err).replace(f"{path}: ", f"{path}: 第 {i + 1} 条 ", 1)) from exc
        if ref.key in out:
            raise LoadError(f"{path}: 第 {i + 1} 条 字段 key（编号）{ref.key!r} 重复")
        out[ref.key] = ref
    return out


def check_referrals(cards: list[tuple[Path, Card]], referrals: dict[str, ReferralChannel]) -> list[str]:
    """Problems: a Q&A card whose referral key is not in the directory."""
    return [f"{path}: 字段 referral（转介渠道）{card.referral!r} 不在转介目录中"
            for path, card in cards
            if isinstance(card, QACard) and card.referral and card.referral not in referrals]
