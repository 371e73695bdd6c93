"""Composers turn numbered sources into answer text; the pipeline checks whatever they write.

Both share one interface: `compose(question, sources, audience, referrals, readings)` yields text pieces
(the offline composer one, a chat model many as they stream; `readings` are the ways the
question may be meant, offered when no Q&A card fits) and raises `ComposeError` when it
cannot give a usable answer, so the pipeline can fall back to the offline composer.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from ..evidence import Source
from ..models import ClarifyOption, Referral


class ComposeError(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason  # timeout | error:<type> | refusal | empty | ungrounded


class Composer(Protocol):
    name: str

    def compose(self, question: str, sources: list[Source], audience: str, referrals: list[Referral],
                readings: list[ClarifyOption] = ()) -> Iterator[str]:
        ...
