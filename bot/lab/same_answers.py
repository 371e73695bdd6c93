"""Do two versions of the code give the same answers? Proof for changes that must change none
(speed-ups, caches): every answer's `Answer.to_json()`, byte for byte.

    python -m bot.lab.same_answers --out /tmp/new.jsonl            # on each version, same index
    python -m bot.lab.same_answers --compare /tmp/base.jsonl /tmp/new.jsonl

The questions: the load test's 12 (bot.lab.loadtest.QUESTIONS) and the first --n of a LeCoQA
file, each asked as a resident, an adviser and an enterprise. With --passes 2 every question is
asked twice in one process and the run fails unless both passes agree (a cache's hits must
answer exactly what was computed).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..answer.models import AUDIENCES
from ..answer.pipeline import AnswerPipeline
from ..config import Settings
from .data import load_questions
from .loadtest import QUESTIONS


def questions(data: Path, n: int) -> list[str]:
    _, dev = load_questions(data)
    return QUESTIONS + [q.text for q in dev[:n]]


def answers(pipeline: AnswerPipeline, texts: list[str]) -> list[str]:
    """One JSON line per (audience, question), in a fixed order."""
    return [json.dumps({"audience": audience, "question": q, "answer": pipeline.ask(q, audience=audience).to_json()},
                       ensure_ascii=False, sort_keys=True) for audience in AUDIENCES for q in texts]


def differing(a: list[str], b: list[str]) -> list[int]:
    """Line numbers (from 1) where two runs differ; a missing line counts as different."""
    return [i for i in range(1, max(len(a), len(b)) + 1) if a[i - 1:i] != b[i - 1:i]]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bot.lab.same_answers")
    p.add_argument("--data", default="../shared/eval/lecoqa_dev.json")
    p.add_argument("--n", type=int, default=200, help="LeCoQA questions after the load test's 12")
    p.add_argument("--passes", type=int, default=1, help="ask everything this many times (≥ 2: passes must agree)")
    p.add_argument("--out", help="where to write the answers (JSON lines)")
    p.add_argument("--compare", nargs=2, metavar=("A", "B"), help="compare two --out files instead")
    args = p.parse_args(argv)
    if args.compare:
        a, b = (Path(f).read_text(encoding="utf-8").splitlines() for f in args.compare)
        bad = differing(a, b)
        print(f"{len(a)} / {len(b)} answers, {len(bad)} differ" + (f" (lines {bad[:20]})" if bad else ""))
        return 1 if bad else 0
    if not args.out:
        p.error("--out or --compare")
    pipeline = AnswerPipeline.open(Settings.load())
    texts = questions(Path(args.data), args.n)
    first = answers(pipeline, texts)
    for n in range(2, args.passes + 1):
        if bad := differing(first, answers(pipeline, texts)):
            print(f"pass {n} differs from pass 1 at lines {bad[:20]}", file=sys.stderr)
            return 1
    Path(args.out).write_text("\n".join(first) + "\n", encoding="utf-8")
    print(f"{len(first)} answers → {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
