"""Pick the local-first prior (`bot.retrieval.rerank.LOCAL_PRIOR`) of a deployment's region.

    python -m bot.lab.calibrate_region --index-dir /tmp/region/index --region 山东省济南市 \\
        --local bot/lab/data/local_jinan.json --dev ../shared/eval/lecoqa_dev.json

The index must hold the region's local regulations (e.g. synced from ../shared/corpus/山东地方法规).
For each prior of --priors the knowledge base, opened with the region, is scored on the local
questions (their gold: local articles) and on the national dev questions, with the shipped
reranker (not cross-validated: the prior is added on top of it, and what is compared is how the
figures move with the prior). The choice: the prior with the best local recall@5 among those that
keep dev recall@10 within DEV_TOLERANCE of prior 0, the smaller one on a tie.
"""
from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from ..config import Settings
from ..retrieval.search import KnowledgeBase
from .data import load_questions
from .eval import evaluate

PRIORS = (0.0, 2.0, 4.0, 8.0, 12.0, 16.0)
DEV_TOLERANCE = 0.005  # a dev recall@10 drop below this is within noise (about 6 of 1,234 questions)


def measure(kb: KnowledgeBase, local: Path, dev: Path, priors: tuple[float, ...]) -> list[dict]:
    """One row per prior: local recall@1/5/10 and MRR, dev recall@5/10."""
    _, local_questions = load_questions(local)
    _, dev_questions = load_questions(dev)
    rows = []
    for prior in priors:
        kb.rerank_stage.local_prior = prior
        [near] = evaluate(kb, local_questions, ["pipeline"])
        [far] = evaluate(kb, dev_questions, ["pipeline"])
        rows.append({"prior": prior, **{f"local_{k}": near[k] for k in ("recall@1", "recall@5", "recall@10", "mrr")},
                     "dev_recall@5": far["recall@5"], "dev_recall@10": far["recall@10"]})
    return rows


def choose(rows: list[dict]) -> dict:
    base = next(r for r in rows if r["prior"] == 0.0)["dev_recall@10"]
    allowed = [r for r in rows if r["dev_recall@10"] >= base - DEV_TOLERANCE]
    return max(allowed, key=lambda r: (r["local_recall@5"], -r["prior"]))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--index-dir", type=Path)
    p.add_argument("--region", required=True, help="the deployment's region, e.g. 山东省济南市")
    p.add_argument("--local", type=Path, required=True, help="local questions with local gold articles")
    p.add_argument("--dev", type=Path, required=True, help="national questions (LeCoQA dev)")
    p.add_argument("--priors", default=",".join(str(x) for x in PRIORS))
    args = p.parse_args(argv)
    settings = dataclasses.replace(Settings.load(index_dir=args.index_dir), region=args.region)
    kb = KnowledgeBase.open(settings)
    rows = measure(kb, args.local, args.dev, tuple(float(x) for x in args.priors.split(",")))
    cols = list(rows[0])
    print(" | ".join(cols))
    for r in rows:
        print(" | ".join(str(r[c]) for c in cols))
    print(f"chosen prior: {choose(rows)['prior']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
