"""Measure the scope-score features on in-scope and out-of-scope questions and pick the weights
and threshold of `bot.answer.abstain.CALIBRATED`.

    python -m bot.lab.calibrate --index-dir /tmp/idx1 --dev ../shared/eval/lecoqa_dev.json [--oos FILE]

In scope: the questions of --dev (LeCoQA dev). Out of scope: --oos, by default the shipped
bot/answer/data/out_of_scope.txt.
Both sets are split in two by position (even/odd) and the choice is made on the even half: for
each pair of weights the threshold is set where DEV_BUDGET of dev questions would abstain (the
dev set is large, so that quantile is stable); the pair that then turns away the most
out-of-scope questions wins, ties going to the wider margin between the threshold and the
out-of-scope scores. The odd half reports how the choice holds up on questions it was not made on.
"""
from __future__ import annotations

import argparse
import itertools
import math
from pathlib import Path

import numpy as np

from ..answer.abstain import CALIBRATED, Features, Weights, features
from ..answer.pipeline import K
from ..config import ROOT, Settings
from ..retrieval.search import KnowledgeBase
from .data import load_questions

OOS = ROOT / "bot" / "answer" / "data" / "out_of_scope.txt"
DEV_BUDGET = 0.05  # dev abstention the threshold allows: half of the 10% the answer layer may spend
GRID = {"bm25": (0.0, 0.005, 0.01, 0.02), "legal": (0.0, 0.1, 0.2, 0.3, 0.4)}


def measure(kb: KnowledgeBase, questions: list[str]) -> list[Features]:
    return [features(q, kb.search(q, k=K)) for q in questions]


def abstain_rate(fs: list[Features], w: Weights) -> float:
    return sum(f.score(w) < w.threshold for f in fs) / max(len(fs), 1)


def choose(dev: list[Features], oos: list[Features], budget: float = DEV_BUDGET) -> Weights:
    best = None
    for wb, wl in itertools.product(GRID["bm25"], GRID["legal"]):
        w = Weights(wb, wl, 0.0)
        dev_scores = np.array([f.score(w) for f in dev])
        oos_scores = np.array([f.score(w) for f in oos])
        w = Weights(wb, wl, math.floor(np.quantile(dev_scores, budget) * 100) / 100)
        # the threshold's distance above most out-of-scope scores, in units of the gap between the sets
        margin = (w.threshold - np.quantile(oos_scores, 0.95)) / (np.median(dev_scores) - np.median(oos_scores))
        key = (abstain_rate(oos, w), margin)
        if best is None or key > best[0]:
            best = (key, w)
    return best[1]


def _summary(name: str, fs: list[Features]) -> str:
    rows = []
    for feat in ("dense", "bm25", "legal"):
        v = np.array([getattr(f, feat) for f in fs])
        rows.append(f"  {name:>4} {feat:>5}: " + " ".join(f"p{p}={np.percentile(v, p):.3f}" for p in (5, 25, 50, 75, 95)))
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bot.lab.calibrate", description=__doc__.split("\n\n")[0])
    p.add_argument("--index-dir")
    p.add_argument("--dev", type=Path, required=True, help="in-scope questions: LeCoQA dev (../shared/eval/lecoqa_dev.json)")
    p.add_argument("--oos", type=Path, default=OOS, help="out-of-scope questions, one a line")
    args = p.parse_args(argv)
    kb = KnowledgeBase.open(Settings.load(index_dir=args.index_dir))
    dev = measure(kb, [q.text for q in load_questions(args.dev)[1]])
    oos = measure(kb, [ln.strip() for ln in args.oos.read_text(encoding="utf-8").splitlines() if ln.strip()])
    print(f"features ({len(dev)} dev, {len(oos)} out-of-scope):\n{_summary('dev', dev)}\n{_summary('oos', oos)}")
    w = choose(dev[::2], oos[::2])
    for name, weights in (("chosen", w), ("current", CALIBRATED)):
        print(f"{name} {weights}:")
        for part, sl in (("calibration half", slice(0, None, 2)), ("held-out half", slice(1, None, 2)), ("all", slice(None))):
            print(f"  {part:>16}: out-of-scope abstain {abstain_rate(oos[sl], weights):.3f}, "
                  f"dev abstain {abstain_rate(dev[sl], weights):.3f}")
    print(f"paste into bot/answer/abstain.py: CALIBRATED = Weights(bm25={w.bm25}, legal={w.legal}, threshold={w.threshold})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
