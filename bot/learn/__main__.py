"""python -m bot.learn --data ../shared/eval/lecoqa_dev.json — train the reranker, report CV."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..config import Settings
from ..eval import evaluate, load_questions, resolve_gold
from ..retrieval.rerank import PATH
from ..retrieval.search import KnowledgeBase
from . import fit_reranker, trained_on


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bot.learn")
    p.add_argument("--data", required=True, help="LeCoQA-format training file (../shared/eval/lecoqa_dev.json)")
    p.add_argument("--index-dir")
    p.add_argument("--out", default=str(PATH))
    args = p.parse_args()
    kb = KnowledgeBase.open(Settings.load(index_dir=args.index_dir))
    kb.set_reranker(None)
    data = Path(args.data)
    kind, questions = load_questions(data)
    if kind != "lecoqa":
        raise SystemExit("训练需要 LeCoQA 格式（带 相关法规 的问题）")
    questions = resolve_gold(kb, questions)
    reranker = fit_reranker(kb, questions)
    reranker.trained_on = trained_on(data, sum(1 for q in questions if q.gold))
    reranker.save(Path(args.out))
    kb.set_reranker(reranker)
    rows = evaluate(kb, questions, ["bm25", "dense", "fusion", "pipeline"], data_path=data)
    for r in rows:
        print(json.dumps(r, ensure_ascii=False))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
