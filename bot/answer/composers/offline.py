"""The default composer: the answer is assembled from the evidence, no model involved.

Every legal statement it writes is a quote of a source, introduced by that source's citation;
its own words are only framing ("以下规定与您的问题有关"), the readings to choose from and the
referral's next step. A shipped Q&A card leads the answer in its own plain words only when the
pipeline found that it fits the question (bot.answer.cardfit).
"""
from __future__ import annotations

import re
from collections.abc import Iterator

from ...lawnames import norm_title
from ...numerals import ARTICLE_RE
from ...retrieval.search import KnowledgeBase
from ...units import POLICY_LEVEL, QA_LEVEL
from ..cardfit import asked_as_written, card_title, covered_situation
from ..evidence import Source, body, status_label
from ..models import ClarifyOption, Referral

_VERDICT = re.compile(r"^[^。，！？；\s]{1,3}[。！]")  # 是的。 可以。 不合法。
_CROSS_REF = re.compile(rf"(本法|《[^《》]{{2,60}}》)({ARTICLE_RE.pattern})")
MAX_RELATED = 5
QUOTED = 3  # a resident reads three sources quoted; further ones, and those scored far below the first, only named
UNSURE = "法润还不能确定您的问题适用哪一条规定。您问的是哪一种情况？请选一个接着问，或补充发生了什么、和谁有纠纷："
UNSURE_NO_READINGS = "法润还不能确定您的问题适用哪一条规定。请补充发生了什么、和谁有纠纷，或转给网格法律顾问解答。"
RELATED = "以下规定与您的问题有关（法润未能确定哪一条适用于您的具体情况，请对照条文或咨询专业人员）："
# A card is written for one situation: the reader sees which, so that a near miss shows as one
CARD_INTRO = "以下是法润普法问答「{title}」的解答{situation}："
READINGS = "您问的是哪一种情况？可以选一个接着问："
OTHER_READINGS = "如果这不是您的情况，可以选一个接着问："


def short_name(source: Source) -> str:
    """《劳动合同法》第三十一条 for statutes (residents need no 中华人民共和国), the full title otherwise."""
    u = source.unit
    title = norm_title(u.law) if u.article else u.law
    return f"《{title}》{u.article or u.heading_path}{status_label(u)}"


def card_answer(source: Source, question: str) -> str | None:
    """A Q&A card's plain-language answer, when the card is the source. A bare verdict it opens
    with (「是的。」「不能。」) answers the card's own question; asked in other words, the question
    may not be that one (「房子是不是就我和我妈两个人分？」 answered 「是的。」 by the card on a
    surviving spouse's half), so the verdict is left out and the rule that follows it speaks."""
    if source.unit.level != QA_LEVEL:
        return None
    text = body(source.unit).strip()
    if asked_as_written(question, source.unit):
        return text
    return _VERDICT.sub("", text, count=1) or text


def quote_lines(sources: list[Source]) -> list[str]:
    """One line per source: which article says what, in its own words."""
    return [f"· {short_name(s)}：「{s.quote()}」[{s.n}]" for s in sources]


class OfflineComposer:
    name = "offline"

    def __init__(self, kb: KnowledgeBase):
        self.kb = kb

    def compose(self, question: str, sources: list[Source], audience: str, referrals: list[Referral],
                readings: list[ClarifyOption] = ()) -> Iterator[str]:
        body = self._resident(question, sources) if audience == "resident" else \
            {"adviser": self._adviser, "enterprise": self._enterprise}[audience](sources)
        if readings:
            card_led = bool(sources) and sources[0].unit.level == QA_LEVEL
            body += [OTHER_READINGS if card_led else READINGS] + [f"{i}. {r.label}" for i, r in enumerate(readings, 1)]
        step = next((r.next_step for r in referrals if r.next_step), "")
        yield "\n".join(body + ([f"下一步：{step}"] if step else []))

    def ask_reading(self, sources: list[Source], readings: list[ClarifyOption], referrals: list[Referral]) -> str:
        """The reply when the evidence does not show which rule applies: the readings to choose from,
        the articles only named (to look up, not as the answer), where to turn. With no reading to
        offer, no article either: what a lead this unsure comes with is mostly off the point
        (社会保险法第六十八条 for a drunk-driving question), and a list of such articles misleads
        however it is labelled."""
        lines = [UNSURE if readings else UNSURE_NO_READINGS, *(f"{i}. {r.label}" for i, r in enumerate(readings, 1))]
        if readings:
            lines.append("可能有关的条文（仅供查阅，未必适用于您的情况）："
                         + "、".join(f"{short_name(s)}[{s.n}]" for s in sources))
        step = next((r.next_step for r in referrals if r.next_step), "")
        return "\n".join(lines + ([f"下一步：{step}"] if step else []))

    def _resident(self, question: str, sources: list[Source]) -> list[str]:
        near = [s for s in sources if not s.far]
        quoted = near[:QUOTED]
        named = [s for s in sources if s not in quoted]
        card = card_answer(quoted[0], question) if quoted else None
        if card:
            rest, unit = quoted[1:], quoted[0].unit
            situation = covered_situation(unit.extra.get("scope", "")).strip().rstrip("。；;")
            intro = CARD_INTRO.format(title=card_title(unit),
                                      situation=f"（适用于：{situation}）" if situation else "")
            lines = [intro, f"{card}[{quoted[0].n}]"] + (["依据："] + quote_lines(rest) if rest else [])
        else:
            # No pre-written answer fits: the articles are shown for what they are, without
            # claiming what they mean for the asker's case.
            lines = [RELATED] + quote_lines(quoted)
        return lines + (["另可参阅：" + "、".join(f"{short_name(s)}[{s.n}]" for s in named)] if named else [])

    def _adviser(self, sources: list[Source]) -> list[str]:
        lines = ["相关条文（【】内为与问题最相关的句子）："]
        for s in sources:
            u = s.unit
            where = f"（{u.chapter}）" if u.chapter else ""
            lines.append(f"[{s.n}] 《{u.law}》{u.article or u.heading_path}{status_label(u)}{where}")
            lines.append("    「" + s.marked().replace("\n", "\n    ") + "」")
        if related := self._related(sources):
            lines.append("关联条文：" + "、".join(related))
        return lines

    def _enterprise(self, sources: list[Source]) -> list[str]:
        policies = [s for s in sources if s.unit.level == POLICY_LEVEL]
        laws = [s for s in sources if s.unit.level != POLICY_LEVEL]
        lines = ["相关政策文件："] if policies else ["知识库中没有找到与此相关的政策文件。"]
        for s in policies:
            u = s.unit
            facts = [f"{k}：{v}" for k, v in (("发文机关", u.issuer), ("文号", u.doc_number), ("发布", u.published),
                                              ("施行", u.valid_from), ("有效期至", u.valid_to)) if v]
            lines.append(f"· 《{u.law}》{u.heading_path}{status_label(u)}" + (f"（{'；'.join(facts)}）" if facts else ""))
            lines.append(f"  「{s.quote()}」[{s.n}]")
        if laws:
            lines += ["相关法律规定："] + quote_lines(laws)
        return lines

    def _related(self, sources: list[Source]) -> list[str]:
        """Articles the sources themselves refer to (本法第三十八条 …) that are not sources already."""
        have = {s.unit.uid for s in sources}
        out: list[str] = []
        for s in sources:
            for m in _CROSS_REF.finditer(s.unit.text):
                law = s.unit.law if m.group(1) == "本法" else m.group(1).strip("《》")
                for hit in self.kb.article(law, m.group(2))[:1]:
                    label = f"《{hit.unit.law}》{hit.unit.article}"
                    if hit.unit.uid not in have and label not in out:
                        have.add(hit.unit.uid)
                        out.append(label)
        return out[:MAX_RELATED]
