"""python -m bot.lab.bench [--data FILE] [--n 300] — speed and memory figures for docs/benchmarks.md.

Prints index load time, peak RSS and per-query latency (median, p95) of each search method and of
a whole offline answer (resident), one query at a time, with the ratio of each to the BM25-only
baseline measured in the same process.
"""
from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import time
from datetime import datetime
from pathlib import Path

from ..answer.pipeline import AnswerPipeline
from ..config import Settings
from ..retrieval.search import KnowledgeBase, SearchConfig
from .data import load_questions
from .eval import METHODS as EVAL_METHODS

# the methods of `bot.lab.eval`, BM25 named as the baseline the others are compared with
METHODS = {("bm25 (baseline)" if name == "bm25" else name): m for name, m in EVAL_METHODS.items()}


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bot.lab.bench")
    p.add_argument("--data", default="../shared/eval/lecoqa_dev.json")
    p.add_argument("--n", type=int, default=300, help="questions to time")
    p.add_argument("--index-dir")
    args = p.parse_args()
    settings = Settings.load(index_dir=args.index_dir)
    t = time.perf_counter()
    kb = KnowledgeBase.open(settings)
    load_s = time.perf_counter() - t
    _, questions = load_questions(Path(args.data))
    texts = [q.text for q in questions[: args.n]]
    for q in texts[:20]:  # warm-up: jieba, BLAS and page cache
        kb.search(q)
    answers = AnswerPipeline(kb)
    for q in texts[:20]:
        answers.ask(q)
    calls = {name: (lambda q, m=methods, r=rerank: kb.search(q, config=SearchConfig(rerank=r), methods=m))
             for name, (methods, rerank) in METHODS.items()}
    calls["answer (offline)"] = answers.ask
    rows = {}
    for name, call in calls.items():
        lat = []
        for q in texts:
            t = time.perf_counter()
            call(q)
            lat.append((time.perf_counter() - t) * 1000)
        rows[name] = (statistics.median(lat), statistics.quantiles(lat, n=20)[-1])
    base = rows["bm25 (baseline)"][0]
    print(json.dumps({"date": datetime.now().isoformat(timespec="minutes"), "machine": f"{platform.machine()}, "
                      f"{__import__('os').cpu_count()} cores, Python {platform.python_version()}",
                      "units": kb.manifest.units, "embedding": kb.manifest.embedding,
                      "index_load_s": round(load_s, 2),
                      "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}, ensure_ascii=False))
    print(f"{'method':<18}{'p50 ms':>9}{'p95 ms':>9}{'p50 / baseline':>16}")
    for name, (p50, p95) in rows.items():
        print(f"{name:<18}{p50:>9.2f}{p95:>9.2f}{p50 / base:>16.2f}")


if __name__ == "__main__":
    main()
