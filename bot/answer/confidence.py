"""The confidence an answer shows: how likely its first statement rests on the right rule.

The scope decision (`abstain`) says whether a question is legal and covered; it says nothing
about whether the article or card an answer leads with is the one that governs. This is a
logistic model over signals of the lead the pipeline has already computed:

* `scope`: the scope decision's confidence;
* `card_led` and `card_fit`: a fitting card leads, and how well it fits;
* `lead_score`: the ranking score of the leading hit;
* `lead_margin`: how far it ranks above the next statute hit (a near tie means the lead is a guess);
* `lead_relevance`: how much of the question the quoted clause of the lead shares;
* `exact`: the question names the article it is about.

Weights come from `python -m bot.lab.calibrate_confidence` on the signals `eval answers --signals`
records for LeCoQA dev (the lead is right when it is a gold article or a card citing one),
cross-validated by question.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from ..retrieval.search import Hit
from ..units import CARD_LEVELS, QA_LEVEL
from .abstain import Decision
from .cardfit import CardFit
from .evidence import Source

SIGNALS = ("scope", "card_led", "card_fit", "lead_score", "lead_margin", "lead_relevance", "exact")


@dataclass(frozen=True)
class ConfidenceWeights:
    coef: tuple[float, ...]
    bias: float


# Chosen by `python -m bot.lab.calibrate_confidence` (see the module doc); paste its last line here.
# 2026-12-04, with the second encoder's reranker (out of fold on LeCoQA dev: ECE 0.020).
CALIBRATED = ConfidenceWeights(coef=(-1.017, 1.187, 0.946, 0.24, 0.634, 0.026, 0.0), bias=-3.882)


def signals(decision: Decision, fits: list[CardFit], sources: list[Source], hits: list[Hit]) -> dict[str, float]:
    """The signals of an answer that leads with `sources[0]`."""
    lead = sources[0] if sources else None
    card_led = lead is not None and lead.unit.level == QA_LEVEL
    fit = next((f.probability for f in fits if lead is not None and f.hit.unit.uid == lead.unit.uid), 0.0)
    others = [h.score for h in hits if lead is None or h.unit.uid != lead.unit.uid
              if h.unit.level not in CARD_LEVELS]
    lead_score = lead.hit.score if lead else 0.0
    return {
        "scope": decision.confidence,
        "card_led": float(card_led),
        "card_fit": fit if card_led else 0.0,
        "lead_score": lead_score,
        "lead_margin": lead_score - max(others, default=lead_score),
        "lead_relevance": lead.relevance if lead else 0.0,
        "exact": float(any(h.exact for h in hits)),
    }


def probability(values: dict[str, float], weights: ConfidenceWeights = CALIBRATED) -> float:
    z = weights.bias + sum(c * values[name] for c, name in zip(weights.coef, SIGNALS))
    return round(1.0 / (1.0 + math.exp(-z)), 3)
