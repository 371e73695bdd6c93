"""Fit the card-fit model of `bot.answer.cardfit.CALIBRATED` and measure it, cross-validated.

    python -m bot.lab.calibrate_cards --dev ../shared/eval/lecoqa_dev.json [--index-dir DIR]

Examples: every LeCoQA dev question with a Q&A card among its top hits (the card fits when the
articles it cites include a gold article of the question), and the hand-written paraphrases and
near misses of answer/data/card_fit_cases.json (two per resident card: one paraphrase it answers,
one near miss). When the shipped reranker was trained on the dev
file, each dev question's hits come from the fold reranker that did not see it (as in
`eval answers`): the strongest signal, the rank of the card's own articles among the hits, is
otherwise measured on rankings better than unseen questions get, and the fitted weights trust it
too much. A logistic model is fitted in 5 folds (folds
by question) on both; the threshold is the lowest probability at which the out-of-fold
predictions on the hand-written cases reach PRECISION. Those are labelled by reading; a dev pair's
label only says whether the card cites a gold article (a card can answer a question whose gold
list names other articles, and cite a gold article of a question it does not answer), so dev
pairs teach the model what ordinary questions look like but do not set the bar. The figures
printed are the out-of-fold predictions, for the cases and the dev pairs apart. The final weights
are fitted on everything.
"""
from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import numpy as np

from ..answer.cardfit import FEATURES, TOP, CardFitter, FitWeights, card_article_keys
from ..answer.pipeline import FIT_DEPTH
from ..config import Settings
from ..retrieval.search import KnowledgeBase
from ..units import QA_LEVEL
from .data import load_questions, resolve_gold
from .eval import cross_validation, in_fold_order
from .logistic import FOLDS, fit, out_of_fold

CASES = Path(__file__).parent.parent / "answer" / "data" / "card_fit_cases.json"
# A card that does not fit leading an answer is worse than no card. Measured out of fold on the
# hand-written cases (2026-12-04, 616 cases), precision stays between 0.82 and 0.85 from threshold
# 0.6 to 0.8 (the near misses that pass differ from the card's situation in a detail its scope
# names in other words: 婚后 for a premarital-debt card, a university student for the school-injury
# card); 0.84 is where it first reaches that plateau. Cards below the threshold are offered as
# readings to choose from, and a chosen reading (one of the card's own phrasings) brings its card.
PRECISION = 0.84


def card_name(unit) -> str:
    """A card's file name without suffix, as the hand-written cases name it."""
    return Path(unit.extra.get("file", "")).stem


def examples(kb: KnowledgeBase, dev: Path | None, cases: Path = CASES) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(features, labels, group, written) of every (question, card) pair; group numbers the
    questions, written marks the pairs of the hand-written cases."""
    fitter = CardFitter(kb, FitWeights((0.0,) * len(FEATURES), 0.0, 1.0))  # only its features are used
    X, y, group = [], [], []
    questions, dev_order = [], iter(())
    if dev:
        resolved = resolve_gold(kb, load_questions(dev)[1])
        for q in resolved:
            gold = set(q.gold)
            questions.append((q.text, lambda unit, gold=gold: bool(card_article_keys(unit) & gold), None))
        # consumed lazily: each dev question is searched while the reranker that did not see it is set
        dev_order = in_fold_order(kb, cross_validation(kb, resolved, dev), len(resolved))
    first_case = len(questions)
    for case in json.loads(cases.read_text(encoding="utf-8"))["cases"]:
        questions.append((case["question"], lambda unit, c=case: c["fits"] if card_name(unit) == c["card"] else None,
                          case["card"]))
    for g in itertools.chain(dev_order, range(first_case, len(questions))):
        text, label_of, card = questions[g]
        hits = kb.search(text, k=FIT_DEPTH)
        qvec = kb.embedder.encode_query(text)
        for rank, h in enumerate(hits, 1):
            if h.unit.level != QA_LEVEL or (rank > TOP and not (card and card_name(h.unit) == card)):
                continue
            label = label_of(h.unit)
            if label is None:
                continue
            f = fitter.features(text, h, min(rank, TOP + 1), hits, qvec)
            X.append([f[name] for name in FEATURES])
            y.append(float(label))
            group.append(g)
    group = np.asarray(group)
    return np.asarray(X), np.asarray(y), group, group >= first_case


def threshold_for(p: np.ndarray, y: np.ndarray, precision: float = PRECISION) -> float:
    """The lowest threshold whose predictions at or above it reach `precision` (1.0 if none does)."""
    for t in np.unique(np.round(p, 3)):
        chosen = p >= t
        if chosen.any() and y[chosen].mean() >= precision:
            return float(t)
    return 1.0


def report(p: np.ndarray, y: np.ndarray, t: float) -> str:
    chosen = p >= t
    prec = y[chosen].mean() if chosen.any() else 0.0
    return (f"{int(chosen.sum())} of {len(y)} pairs lead ({int(y.sum())} fit); "
            f"precision {prec:.3f}, recall {(y[chosen].sum() / max(y.sum(), 1)):.3f}")


def report_both(p: np.ndarray, y: np.ndarray, written: np.ndarray, t: float) -> str:
    return (f"threshold {t:.3f}: cases {report(p[written], y[written], t)}; "
            f"dev {report(p[~written], y[~written], t)}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bot.lab.calibrate_cards", description=__doc__.split("\n\n")[0])
    p.add_argument("--index-dir")
    p.add_argument("--dev", type=Path, help="LeCoQA-format file whose questions are examples (optional)")
    p.add_argument("--cases", type=Path, default=CASES)
    args = p.parse_args(argv)
    kb = KnowledgeBase.open(Settings.load(index_dir=args.index_dir))
    X, y, group, written = examples(kb, args.dev, args.cases)
    print(f"{len(y)} (question, card) pairs from {len(set(group.tolist()))} questions; {int(y.sum())} fit; "
          f"{int(written.sum())} pairs from hand-written cases")
    fold, oof = out_of_fold(X, y, group)
    # thresholds chosen on the other folds' cases, applied to each fold: an honest precision
    held = np.zeros(len(y), bool)
    for f in range(FOLDS):
        other = (fold != f) & written
        held[fold == f] = oof[fold == f] >= threshold_for(oof[other], y[other])
    for name, part in (("cases", written), ("dev", ~written)):
        chosen = held & part
        print(f"cross-validated, {name}: {int(chosen.sum())} lead, precision {y[chosen].mean() if chosen.any() else 0:.3f}, "
              f"recall {y[chosen].sum() / max(y[part].sum(), 1):.3f}")
    t = threshold_for(oof[written], y[written])
    print("out-of-fold, one threshold: " + report_both(oof, y, written, t))
    for q in (0.5, 0.6, 0.7, 0.8, 0.9):
        print("  out-of-fold at " + report_both(oof, y, written, q))
    coef, bias = fit(X, y)
    weights = FitWeights(tuple(round(float(c), 3) for c in coef), round(bias, 3), round(t, 3))
    print(f"paste into bot/answer/cardfit.py: CALIBRATED = {weights}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
