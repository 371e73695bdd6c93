"""CPU per answer, in one process: `AnswerPipeline.ask` and `POST /api/ask` (FastAPI's TestClient,
so the client's own share is counted too), over the load test's 12 questions after a warm-up.

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
import tempfile
import time

from ..admin import Service
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
    from fastapi.testclient import TestClient

    from ..api import create_app

    with tempfile.TemporaryDirectory() as var:  # the question log goes to a throwaway database
        os.environ["FARUN_DATA_DIR"] = var
        service = Service(Settings.load())
        pipeline = service.pipeline
        client = TestClient(create_app(service=service, rate_limit=0))
        for q in QUESTIONS * 2:  # warm-up: jieba, page cache, each card's phrasings
            pipeline.ask(q)
        ask = cpu_ms(pipeline.ask, args.rounds)
        api = cpu_ms(lambda q: client.post("/api/ask", json={"question": q}).raise_for_status(), args.rounds)
        print(json.dumps({"pipeline_ask_ms": round(statistics.median(ask), 1), "api_ask_ms": round(statistics.median(api), 1),
                          "rounds": {"pipeline": [round(x, 1) for x in ask], "api": [round(x, 1) for x in api]},
                          "load_average": os.getloadavg()[0]}))
        if args.profile:
            profile = cProfile.Profile()
            profile.runcall(cpu_ms, pipeline.ask, args.rounds)
            pstats.Stats(profile).sort_stats("tottime").print_stats(args.profile)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
