"""CPU per answer of `AnswerPipeline.ask`, in one process, over the load test's 12 questions after
a warm-up (what the HTTP layer adds is measured on a running server: the load table's server CPU
per answer, docs/reliability.md).

    python -m bot.lab.answer_cpu [--rounds 4] [--profile 25]

CPU time (`time.process_time`, all threads), not wall time, so that other jobs on the machine
change the figures less; still, compare two versions only in the same window, alternated.
--profile N prints cProfile's N functions with the most own time over `pipeline.ask` (cProfile
sees the calling thread only: the pipeline runs there; FAISS's and the encoder's own threads
are counted by process_time, not by the profile).
"""
from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import statistics
import time

from ..answer.pipeline import AnswerPipeline
from ..config import Settings
from .loadtest import QUESTIONS


def cpu_ms(call, rounds: int) -> list[float]:
    """CPU milliseconds per answer of each round over QUESTIONS."""
    out = []
    for _ in range(rounds):
        t = time.process_time()
        for q in QUESTIONS:
            call(q)
        out.append((time.process_time() - t) * 1000 / len(QUESTIONS))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bot.lab.answer_cpu")
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--profile", type=int, default=0, help="print the top N functions by own time")
    args = p.parse_args(argv)
    pipeline = AnswerPipeline.open(Settings.load())
    for q in QUESTIONS * 2:  # warm-up: jieba, page cache, each card's phrasings
        pipeline.ask(q)
    ask = cpu_ms(pipeline.ask, args.rounds)
    print(json.dumps({"pipeline_ask_ms": round(statistics.median(ask), 1), "rounds": [round(x, 1) for x in ask],
                      "load_average": os.getloadavg()[0]}))
    if args.profile:
        profile = cProfile.Profile()
        profile.runcall(cpu_ms, pipeline.ask, args.rounds)
        pstats.Stats(profile).sort_stats("tottime").print_stats(args.profile)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
