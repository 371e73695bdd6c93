"""python -m bot.lab.learn --data FILE [--data FILE …] — train the reranker, report CV per file.

The documented command (README, docs/benchmarks.md) trains on both kinds of question in
../shared/eval: lay questions (LeCoQA) and formal scenarios (LawBench 3-2), so that the model
learns when to lean on what lay questions needed and when on the words of the text.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from ...config import Settings
from ...retrieval.rerank import PATH
from ...retrieval.search import KnowledgeBase
from ..data import load_questions
from ..eval import evaluate
from . import fit_reranker, trained_on, training_questions


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bot.lab.learn")
    p.add_argument("--data", action="append", required=True,
                   help="training file, repeatable (../shared/eval/lecoqa_dev.json, ../shared/eval/lawbench_3-2_scene_article.json)")
    p.add_argument("--index-dir")
    p.add_argument("--out", default=str(PATH))
    args = p.parse_args()
    kb = KnowledgeBase.open(Settings.load(index_dir=args.index_dir))
    kb.set_reranker(None)
    paths = [Path(d) for d in args.data]
    try:
        questions, files = training_questions(kb, paths)
    except ValueError as exc:
        raise SystemExit(str(exc)) from exc
    reranker = fit_reranker(kb, questions)
    reranker.trained_on = trained_on(files)
    reranker.save(Path(args.out))
    kb.set_reranker(reranker)
    for path in paths:
        for r in evaluate(kb, load_questions(path)[1], ["bm25", "dense", "fusion", "pipeline"], data_path=path):
            print(json.dumps({"data": path.name} | r, ensure_ascii=False))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
