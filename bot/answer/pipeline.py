"""Question in, `Answer` out: clean → condense with the conversation → retrieve → decide →
compose → verify, as one langchain runnable.

`AnswerPipeline.stream` yields events: {"delta": text} as checked text becomes available,
{"reset": reason} when a model's partly shown answer is withdrawn for the offline one, and last
{"answer": Answer, "hits": the hits it was built from}. `ask` returns just the answer. Filters
(an adviser's level, law, status, region) apply to the one search both use.

A Q&A card leads an answer only when it fits the question (`cardfit`); a card that does not fit
is no source at all. Without a fitting card the answer quotes the articles for what they are
(related provisions) and offers readings of the question to choose from.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator

from langchain_core.runnables import RunnableBranch, RunnableLambda

from ..config import Settings
from ..embeddings import one_vector_per_question
from ..lawnames import norm_title
from ..retrieval.search import Filters, Hit, KnowledgeBase, QueryError
from ..text import MAX_QUERY_CHARS
from ..units import POLICY_LEVEL, QA_LEVEL
from .abstain import Decision, decide
from .cache import AnswerCache, answer_key
from .cardfit import CardFit, CardFitter, card_title
from .composers import ComposeError
from .composers.llm import LLMComposer, LLMConfig
from .composers.offline import OfflineComposer, quote_lines
from .confidence import probability, signals
from .evidence import RELATIVE_FLOOR, Source, gather, numbered
from .handover import handover_reason
from .models import AUDIENCES, DISCLAIMER, Answer, Citation, ClarifyOption, Referral
from .privacy import printable, redact
from .referral import load_referrals, refer
from .rewrite import Turn, condense
from .verify import Verifier

log = logging.getLogger(__name__)

K = 10  # hits retrieved; the decision looks at all of them, composers at the first few
# Card fit looks deeper: whether retrieval ranks a card's own articles at all among this many hits
# (a lay question often brings its card first but the card's article only 11th–30th)
FIT_DEPTH = 30
# sources given to the offline composer (it quotes three for residents and names the rest)
SOURCES = {"resident": 6, "adviser": 5, "enterprise": 3}
LLM_EXTRA_SOURCES = 2  # a model can weigh a few more than a reader can skim
MAX_READINGS = 3
CARD_READINGS = 2  # cards among the top hits that do not fit, offered as readings of the question
# A card fitting less than this is no reading of the question either. With the card-fit weights of
# 2026-12-04, out of fold, (question, card) pairs fitting 0.2–0.3 were the asker's situation 20% of
# the time on LeCoQA dev (49% of the hand-written cases, half of which are near misses by design),
# 0.3–0.4 37% (58%), 0.4–0.5 43% (67%). 0.5 since 2026-12-04: on a third lay set nobody had
# tuned on, readings fitting 0.3–0.5 were other situations offered as the asker's (gift revocation
# for a 15-year-old sent to work, a shop searching a customer for one who slipped on its floor),
# and graders read such options as misleading; below 0.5 a reading was the asker's situation
# less often than not.
READING_FLOOR = 0.5
# Below this calibrated confidence a resident is asked which reading is meant instead of being
# answered (out of fold on LeCoQA dev, 2026-12-03: leads shown below 0.25 were right 14% of the
# time, 0.25–0.3 28%, 0.3–0.4 38%; with the confidence weights of 2026-12-04, 17%, 30%, 36%;
# docs/benchmarks.md). 0.24 since 2026-12-04: with fewer card leads (card-fit threshold 0.76)
# 0.25 asked 11.7% of dev questions back, past the 15% budget with abstentions; 0.24 asks 9.5%.
# 0.18 since the confidence refit after the cards' new phrasings (2026-12-04): leads below it were
# right 5% of the time out of fold; 0.2 (right 6%) would ask 7.0% back, 0.24 12.9%, past the budget.
# 0.2 since the second encoder and the confidence refitted on its signals (2026-12-04, in sample on
# dev): leads below 0.18 were right 7% of the time (2.4% of dev asked back), 0.18–0.2 26%, all below
# 0.2 18% (5.1% asked back), below 0.25 18% (10.6%: past the budget with the abstentions).
# Advisers still get the articles.
ASK_BELOW = 0.2
LOCAL_CHANNEL = "gov-12345"  # where a question about a local office, fee or figure is sent besides its topic's channel

MESSAGES = {
    "empty": "问题是空的：请用一句话描述您遇到的法律问题，比如发生了什么、和谁有纠纷。",
    "vague": "没太明白您想问什么。请用一句话描述您遇到的情况，比如发生了什么、和谁有纠纷、希望达到什么结果。",
    "out_of_scope": "抱歉，这个问题不在法润能回答的范围内：法润只提供法律法规和政策方面的信息。"
                    "如果您遇到了法律方面的麻烦，可以换个说法告诉我发生了什么。",
    "unsupported": "我在知识库里没有找到能直接回答这个问题的规定。为了查得更准，能否补充一下："
                   "发生了什么事、对方是谁（单位、商家、个人还是政府部门）、您希望达到什么结果？",
    "case_strategy": "具体案件怎么打、能不能赢、会怎么判，要结合证据和全部案情由律师判断，法润不能替代律师给出个案策略或预测结果。",
    "local_facts": "这个问题问的是当地的办事信息或当年的具体数字（电话、地址、办公时间、所需材料、收费、当地标准），"
                   "或者要推荐具体的律师：法润的知识库只收法律法规、政策和普法问答，查不到这些，也不会编一个给您。"
                   "请向下面的渠道问准确的信息：",
}
LOCAL_READINGS = "如果还想了解相关的法律规定，可以选一个接着问："


class AnswerPipeline:
    def __init__(self, kb: KnowledgeBase, llm: LLMConfig | None = None, chat_model=None):
        self.kb = kb
        self.offline = OfflineComposer(kb)
        self.cards = CardFitter(kb)
        self.llm = LLMComposer(llm, chat_model) if llm else None
        self.secrets = (llm.api_key,) if llm and llm.api_key else ()
        self.chain = self._build()
        self.cache = AnswerCache(kb.settings.answer_cache)  # a new pipeline (index swap, update): an empty one

    @classmethod
    def open(cls, settings: Settings | None = None) -> "AnswerPipeline":
        """The knowledge base of the settings, with the model composer if FARUN_LLM_* configure one."""
        return cls(KnowledgeBase.open(settings), LLMConfig.from_env())

    def _build(self):
        respond = RunnableBranch((lambda s: s["decision"].kind == "answer", RunnableLambda(self._answer)),
                                 RunnableLambda(self._decline))
        return (RunnableLambda(self._prepare) | respond).with_config(run_name="farun_answer")

    def _prepare(self, s: dict) -> dict:
        """clean → condense → retrieve → fit cards → decide, one after another. One runnable, not one
        RunnablePassthrough.assign per step: streamed, each of those runs in a thread pool of its
        own, made per answer (2026-12-03: 15 of 50 ms of CPU per answer; docs/reliability.md)."""
        s = self._clean(s)
        s["rewritten"] = self._condense(s)
        with one_vector_per_question():  # retrieval, policies and card fit encode the question
            deep = self._retrieve(s)
            s["hits"], s["policies"] = deep[:K], self._policies(s)
            s["fits"] = self.cards.rank(s["rewritten"], deep)
        s["decision"] = self._decide(s)
        return s

    # ---- public ----------------------------------------------------------------------------
    def stream(self, question: str, history: list[Turn] = (), audience: str = "resident",
               filters: Filters | None = None, clarified: int = 0) -> Iterator[dict]:
        """`clarified`: how many earlier answers of this conversation asked to clarify (the answer's
        `handover` then says whether to offer a grid adviser, bot.answer.handover)."""
        if audience not in AUDIENCES:
            raise ValueError(f"audience 只能是 {'、'.join(AUDIENCES)}")
        for event in self.chain.stream({"question": question, "history": list(history), "audience": audience,
                                        "filters": filters}):
            if "answer" in event:
                event["answer"].handover = handover_reason(event["answer"], clarified)
            yield event

    def ask(self, question: str, history: list[Turn] = (), audience: str = "resident",
            filters: Filters | None = None, clarified: int = 0) -> Answer:
        """The answer `stream` ends with; one asked before comes from the cache (bot.answer.cache)."""
        key = answer_key(self.kb, question, history, audience, filters)
        if (answer := self.cache.get(key)) is not None:
            answer.handover = handover_reason(answer, clarified)
            return answer
        *_, last = self.stream(question, history, audience, filters, clarified)
        self.cache.put(key, last["answer"])
        return last["answer"]

    # ---- steps -----------------------------------------------------------------------------
    def _clean(self, s: dict) -> dict:
        """Control characters out, personal numbers redacted (nothing downstream ever sees them),
        length capped; what changed goes to the answer's notes."""
        raw = printable(s["question"] or "")
        question, notes = redact(raw[:MAX_QUERY_CHARS]), []
        if len(raw) > MAX_QUERY_CHARS:
            notes.append(f"问题过长，只按前 {MAX_QUERY_CHARS} 字处理。")
        if question != raw[:MAX_QUERY_CHARS]:
            notes.append("问题中的身份证号、电话号码已隐去：咨询法律问题不需要提供这些信息。")
        history = [(redact(printable(u)), redact(printable(a))) for u, a in s["history"]]
        return s | {"question": question, "history": history, "notes": notes}

    def _condense(self, s: dict) -> str:
        return condense(self.kb, s["question"], s["history"], self.llm.model if self.llm else None)

    def _retrieve(self, s: dict) -> list:
        context = "\n".join(u for u, _ in s["history"])
        try:
            return self.kb.search(s["rewritten"], k=FIT_DEPTH, filters=s["filters"], context=context)
        except QueryError:
            return []

    def _policies(self, s: dict) -> list:
        """Enterprises see policy documents first, expired ones included (and labelled)."""
        if s["audience"] != "enterprise":
            return []
        try:
            return self.kb.policy_hits(s["rewritten"], k=SOURCES["enterprise"],
                                       context="\n".join(u for u, _ in s["history"]))
        except QueryError:
            return []

    def _decide(self, s: dict) -> Decision:
        decision = decide(s["rewritten"], s["hits"])
        log.info("decision=%s reason=%s confidence=%.3f question=%s", decision.kind, decision.reason,
                 decision.confidence, s["rewritten"][:200])
        return decision

    @staticmethod
    def _fitting_card(s: dict) -> list[Hit]:
        """The card that fits the question, if one does (its hit, in a list)."""
        fits: list[CardFit] = s["fits"]
        return [fits[0].hit] if fits and fits[0].fits else []

    def _evidence_hits(self, s: dict) -> list[Hit]:
        """The hits answers are built from: a fitting card first, cards that do not fit left out."""
        return self._fitting_card(s) + [h for h in s["hits"] if h.unit.level != QA_LEVEL]

    def _sources(self, s: dict, extra: int = 0) -> list[Source]:
        limit = SOURCES[s["audience"]] + extra
        keep = 3 if s["audience"] == "adviser" else 2
        q, hits, card = s["rewritten"], self._evidence_hits(s), bool(self._fitting_card(s))
        if s["audience"] != "enterprise":
            return gather(self.kb, q, hits, limit, keep, fitting_card=card)
        laws = gather(self.kb, q, [h for h in hits if h.unit.level != POLICY_LEVEL], limit, fitting_card=card)
        # a policy must match the question as well as the law the answer rests on
        floor = RELATIVE_FLOOR * max((x.relevance for x in laws), default=0.0)
        return numbered(gather(self.kb, q, s["policies"], limit, floor=max(floor, 1e-9)) + laws)

    # ---- responses -------------------------------------------------------------------------
    def _answer(self, s: dict) -> Iterator[dict]:
        offline_sources = self._sources(s)  # also what decides whether to ask back
        if (unsure := self._unsure(s, offline_sources)) is not None:
            yield from unsure
            return
        q, audience = s["rewritten"], s["audience"]
        fallback, removed = "", []
        for composer in ([self.llm] if self.llm else []) + [self.offline]:
            sources = self._sources(s, LLM_EXTRA_SOURCES) if composer is self.llm else offline_sources
            lead = sources[0].unit if sources else None
            card_led = lead is not None and lead.level == QA_LEVEL
            # where to turn follows what the answer rests on: a leading card names its own channel,
            # else the question's words and the law of the leading source, not every law retrieved
            referrals = refer(q, [lead.law] if lead else [], card=lead.extra.get("referral") if card_led else None)
            readings = self._card_readings(s, lead.uid) if card_led else self._readings(s, sources)
            verifier = Verifier(self.kb, q, sources, self.secrets)
            lead_signals = signals(s["decision"], s["fits"], sources, s["hits"])
            parts, shown = [], 0
            try:
                for chunk in composer.compose(q, sources, audience, referrals, readings):
                    parts.append(verifier.feed(chunk))
                    # Nothing is shown before the text cites a source: refusals and replies that
                    # went off the rails are replaced without the reader seeing them.
                    if verifier.citations and "".join(parts[shown:]):
                        yield {"delta": "".join(parts[shown:])}
                        shown = len(parts)
                parts.append(verifier.flush())
                if composer is self.llm and not verifier.citations:
                    raise ComposeError("ungrounded")
            except ComposeError as exc:
                fallback = exc.reason
                removed += verifier.removed
                log.warning("model composer failed (%s); answering offline", exc.reason)
                if shown:
                    yield {"reset": exc.reason}
                continue
            if verifier.removed:
                parts.append(f"\n（已删除 {len(verifier.removed)} 处无法在知识库中核实的引用。）")
            if "".join(parts[shown:]):
                yield {"delta": "".join(parts[shown:])}
            yield {"answer": Answer(
                question=s["question"], rewritten_question=q, audience=audience, answer="".join(parts).strip(),
                citations=verifier.citations, removed_citations=removed + verifier.removed, referral=referrals,
                composer=composer.name, fallback_reason=fallback, confidence=probability(lead_signals),
                signals=lead_signals,
                led_by="card" if card_led else "statute" if lead else "", clarify=readings,
                card_fit=s["fits"][0].probability if s["fits"] else 0.0,
                card=card(q, [c for c in verifier.citations if c.unit_id in verifier.by_uid
                              and not _fabricates(self.kb, q, sources, c.quote)], referrals,
                          self.kb.settings.as_of.isoformat()) if audience == "adviser" else "",
                notes=s["notes"]), "hits": s["hits"]}
            return

    def _unsure(self, s: dict, sources: list[Source]) -> Iterator[dict] | None:
        """A resident's question whose lead the evidence hardly supports (no fitting card, calibrated
        confidence below `ASK_BELOW`) is answered by asking which reading is meant, the articles
        only named as possibly related, before any composer writes a word: such leads were the
        governing rule about one time in seven, and a wrong answer is worse than none. None when the
        answer can go ahead."""
        if s["audience"] != "resident":
            return None
        lead = sources[0].unit if sources else None
        if lead is None or lead.level == QA_LEVEL:
            return None
        lead_signals = signals(s["decision"], s["fits"], sources, s["hits"])
        confidence = probability(lead_signals)
        if confidence >= ASK_BELOW:
            return None
        # only cards' situations: the chapters of leads this unsure are as likely off the point
        # (《著作权法》总则 offered for domestic violence, the first stage having matched 「保护」);
        # none to offer: the asker is asked for the facts
        readings = self._readings(s, sources, chapters=False)
        q = s["rewritten"]
        referrals = refer(q)  # by the question's words: a lead this unsure says nothing of where to turn
        verifier = Verifier(self.kb, q, sources, self.secrets)
        text = verifier.run(self.offline.ask_reading(sources, readings, referrals))

        def events() -> Iterator[dict]:
            yield {"delta": text}
            yield {"answer": Answer(
                question=s["question"], rewritten_question=q, audience="resident", answer=text, decision="clarify",
                citations=verifier.citations, removed_citations=verifier.removed, referral=referrals,
                confidence=confidence, signals=lead_signals, led_by="statute", clarify=readings,
                card_fit=s["fits"][0].probability if s["fits"] else 0.0, notes=s["notes"]), "hits": s["hits"]}
        return events()

    def _readings(self, s: dict, sources: list[Source], chapters: bool = True) -> list[ClarifyOption]:
        """Readings of a question no card fits, to choose from: the situations of the cards among
        the top hits, best-fitting first (each asked its own way, so that choosing it brings the
        card), then (with `chapters`) the chapters the leading sources come from, when they differ."""
        out = self._card_readings(s)
        if not chapters:
            return out
        seen = set()
        for src in sources:
            u = src.unit
            if not u.article or not u.chapter or (u.law, u.chapter) in seen:
                continue
            seen.add((u.law, u.chapter))
            topic = u.chapter.split("/")[-1].split(" ")[-1]
            out.append(ClarifyOption(label=f"《{norm_title(u.law)}》{topic}", question=f"{s['rewritten']}（{topic}）"))
        return out[:MAX_READINGS] if len(out) > 1 else []

    def _card_readings(self, s: dict, leading: str = "") -> list[ClarifyOption]:
        """The cards among the hits fitting at least READING_FLOOR, as readings; beside a leading card
        (uid `leading`) the others that might be the asker's situation: a card fits by a calibrated
        guess, and a near miss (婚后 debt answered by the premarital-debt card) should be one click
        from its own answer."""
        return [self._card_reading(f.hit.unit) for f in s["fits"]
                if f.hit.unit.uid != leading and f.probability >= READING_FLOOR][:CARD_READINGS]

    @staticmethod
    def _card_reading(unit) -> ClarifyOption:
        """A card as a reading: its situation, asked the card's own way (choosing it brings the card)."""
        title = card_title(unit)
        return ClarifyOption(label=title, question=(unit.extra.get("questions") or [title])[0])

    def _decline(self, s: dict) -> Iterator[dict]:
        d: Decision = s["decision"]
        q = s["rewritten"]
        laws = [h.unit.law for h in s["hits"][:5]] if d.reason != "out_of_scope" else []
        referrals = refer(q, laws) if d.reason in ("unsupported", "case_strategy") else refer("")
        text, citations, readings = MESSAGES[d.reason], [], []
        if d.reason == "case_strategy" and (fitting := self._fitting_card(s)):
            # the general rules are still worth knowing, from a card written for this situation: the
            # articles a question this vague brings (正当防卫 for 「跟老板闹掰了准备打官司」) would mislead
            sources = gather(self.kb, q, fitting, 2, fitting_card=True)
            verifier = Verifier(self.kb, q, sources, self.secrets)
            text += verifier.run("\n可以先了解相关规定：\n" + "\n".join(quote_lines(sources)))
            citations = verifier.citations
        if d.reason == "local_facts":
            # the channel of the question's topic, and 12345, which knows every local office
            local = [r for r in load_referrals() if r.key == LOCAL_CHANNEL]
            referrals = list({r.key: r for r in refer(q, limit=1) + local}.values())
            readings = self._card_readings(s)
        text += "\n" + "\n".join(f"{r.label}：{r.handles}" for r in referrals)
        if readings:
            text += "\n" + LOCAL_READINGS + "".join(f"\n{i}. {r.label}" for i, r in enumerate(readings, 1))
        yield {"delta": text}
        yield {"answer": Answer(
            question=s["question"], rewritten_question=q, audience=s["audience"], answer=text, decision=d.kind,
            abstained=True, citations=citations, referral=referrals, confidence=d.confidence, clarify=readings,
            notes=s["notes"]),
            "hits": s["hits"]}


def _fabricates(kb, question: str, sources: list[Source], quote: str) -> bool:
    """Whether a source's quote names an article the base does not have (the card shows quotes
    unchecked otherwise: a document can carry a fabricated citation)."""
    check = Verifier(kb, question, sources)
    check.run(f"「{quote}」")
    return bool(check.removed)


def card(question: str, citations: list[Citation], referrals: list[Referral], as_of: str) -> str:
    """A plain-text answer card an adviser can paste into a reply: the sources the answer rests
    on (not every article they refer to), where to turn, the disclaimer."""
    lines = ["【法律信息卡】", f"问题：{question}", "依据："]
    lines += [f"{i}. {c.label}：{c.quote}" for i, c in enumerate(citations, 1)]
    if step := next((r.next_step for r in referrals if r.next_step), ""):
        lines.append(f"建议：{step}")
    lines.append(f"{DISCLAIMER}（法润 FaRun，依据截至 {as_of} 的知识库）")
    return "\n".join(lines)
