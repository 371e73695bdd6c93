"""When to offer handing a question to a grid legal adviser (转给法律顾问).

A resident can always ask for it; it is offered by itself when the bot declines to answer
(abstain, out of scope, case strategy), when it has asked the resident to clarify twice in one
conversation (a clarify decision, or readings of the question offered because no card fitted),
when an answer is unsure of its lead (no fitting card, and its calibrated confidence below
`UNSURE`: such answers led with the governing rule about a quarter of the time, docs/benchmarks.md),
and when the resident rates an answer 差. The pipeline sets `Answer.handover` for the first two
(the caller says how often the conversation was already asked to clarify); front ends call
`after_rating` for the third.
"""
from __future__ import annotations

REASONS = {
    "asked": "居民要求转给法律顾问",
    "abstain": "法润没能回答这个问题",
    "clarify_twice": "法润已两次请您补充情况",
    "unsure": "法润对这个回答把握不大",
    "bad_rating": "您对回答不满意",
}
UNSURE = 0.3  # the calibrated confidence below which an answer not led by a card offers the hand-over
OFFER = "可以把问题转给您所在网格的法律顾问，由顾问本人答复（选择网格，可留联系方式，凭查询码查看回复）。"


def asks_to_clarify(answer) -> bool:
    """Whether an answer asks the resident to say more: a clarify decision or readings to choose from.
    A card's answer that also offers other cards (in case it is not the asker's situation) answers."""
    return answer.decision == "clarify" or (bool(answer.clarify) and answer.led_by != "card")


def handover_reason(answer, clarified_before: int = 0) -> str:
    """"abstain", "clarify_twice", "unsure" or "": whether this answer should come with the hand-over offer.
    `clarified_before`: how many earlier answers of the conversation asked to clarify."""
    if answer.decision in ("abstain", "decline"):
        return "abstain"
    if asks_to_clarify(answer) and clarified_before + 1 >= 2:
        return "clarify_twice"
    if answer.led_by == "statute" and answer.confidence < UNSURE:  # answered, or asked which reading is meant
        return "unsure"
    return ""


def after_rating(rating: str) -> str:
    """"bad_rating" for a 差 rating of an answer (the offer follows it), else ""."""
    return "bad_rating" if rating in ("bad", "差") else ""
