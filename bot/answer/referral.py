"""Where to turn next: referral channels chosen by the topic of a question.

The channels are data (referrals.json next to this module); `load_referrals` is the one place
that knows where that file lives.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from ..lawnames import norm_title
from .models import Referral

REFERRALS = Path(__file__).with_name("referrals.json")


@lru_cache(maxsize=4)
def load_referrals(path: Path | None = None) -> tuple[Referral, ...]:
    data = json.loads((path or REFERRALS).read_text(encoding="utf-8"))
    return tuple(Referral(**entry) for entry in data)


def refer(question: str, laws: list[str] = (), limit: int = 2, channels: tuple[Referral, ...] | None = None) -> list[Referral]:
    """The channels whose topics the question mentions or whose laws the evidence comes from,
    best first; the general legal hotline when nothing matches."""
    channels = channels or load_referrals()
    named = [norm_title(law) for law in laws]
    scored = []
    for i, ch in enumerate(channels):
        score = 2 * sum(t in question for t in ch.topics) + sum(any(n.endswith(law) for n in named) for law in ch.laws)
        if score and not ch.default:
            scored.append((-score, i, ch))
    picked = [ch for _, _, ch in sorted(scored)[:limit]]
    return picked or [ch for ch in channels if ch.default][:1]
