"""Where to turn next: channels of the referral directory (knowledge/referrals.yaml, kept with
the knowledge cards), chosen by the topic of a question.

`load_referrals` is the one place that reads the directory; everything else takes its channels.
"""
from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

from ..sources import knowledge
from .models import Referral

DEFAULT = "hotline-12348"  # the general legal hotline, when no topic matches


@lru_cache(maxsize=4)
def load_referrals(path: Path | None = None) -> tuple[Referral, ...]:
    """The directory's channels, in file order, as the answer object carries them."""
    channels = []
    for ch in knowledge.load_referrals(path).values():
        ref = Referral(key=ch.key, channel=ch.name, phone=ch.phone or "", handles=ch.handles, topics=ch.keywords)
        ref.next_step = f"可以联系{ref.label}：{ch.when}"
        channels.append(ref)
    return tuple(channels)


def refer(question: str, laws: Sequence[str] = (), card: str | None = None, limit: int = 2,
          channels: tuple[Referral, ...] | None = None) -> list[Referral]:
    """A Q&A card's own referral (`card`) if it has one; else the channels whose keywords the
    question mentions (or, weighing less, the names of the laws the evidence comes from), best
    first; the general legal hotline when nothing matches."""
    channels = channels or load_referrals()
    if own := [ch for ch in channels if ch.key == card]:
        return own  # the card's author chose where its readers should turn
    names = " ".join(laws)
    scored = []
    for i, ch in enumerate(channels):
        score = 2 * sum(t in question for t in ch.topics) + sum(t in names for t in ch.topics)
        if score and ch.key != DEFAULT:
            scored.append((-score, i, ch))
    picked = [ch for _, _, ch in sorted(scored)[:limit]]
    return picked or [ch for ch in channels if ch.key == DEFAULT][:1]
