"""Commands `ask` and `chat` (registered by `bot.cli.main` with `add_commands(sub)`), and the
renderer of `python -m bot eval answers`."""
from __future__ import annotations

import json
import sys

from ..answer.models import Answer
from ..units import AUDIENCES
from .common import settings


def _pipeline(args):
    from ..answer.pipeline import AnswerPipeline

    return AnswerPipeline.open(settings(args))


def render_footer(ans: Answer) -> str:
    """What follows the streamed answer text: sources, where to turn, caveats."""
    lines = []
    if ans.citations:
        lines.append("来源：")
        lines += [f"  {c.label}〔{c.status}{'：' + c.status_note if c.status_note else ''}〕" for c in ans.citations]
    if ans.referral and not ans.abstained:
        lines.append("可求助：" + "；".join(r.label for r in ans.referral))
    if ans.card:
        lines += ["", ans.card]
    if ans.fallback_reason:
        lines.append(f"（模型回答未能使用：{ans.fallback_reason}；以上为离线整理的回答）")
    lines += [f"注：{n}" for n in ans.notes]
    lines.append(ans.disclaimer)
    return "\n".join(lines)


def _show(pipeline, question: str, history, audience: str) -> Answer:
    """Stream one answer to stdout and return it."""
    out, answer = sys.stdout, None
    for event in pipeline.stream(question, history, audience):
        if "delta" in event:
            out.write(event["delta"])
            out.flush()
        elif "reset" in event:
            out.write(f"\n（模型回答未通过核对：{event['reset']}，改为离线回答）\n")
        else:
            answer = event["answer"]
    out.write("\n" + render_footer(answer) + "\n")
    return answer


def cmd_ask(args) -> int:
    pipeline = _pipeline(args)
    if args.json:
        print(json.dumps(pipeline.ask(args.question, audience=args.audience).to_json(), ensure_ascii=False, indent=1))
    else:
        _show(pipeline, args.question, [], args.audience)
    return 0


def cmd_chat(args) -> int:
    """A terminal conversation: one question per line, until EOF or exit."""
    pipeline = _pipeline(args)
    history: list[tuple[str, str]] = []
    interactive = sys.stdin.isatty()
    if interactive:
        print("法润 FaRun：请输入您的法律问题（输入 exit 结束）。")
    while True:
        if interactive:
            print("\n问：", end="", flush=True)
        line = sys.stdin.readline()
        if not line or line.strip().lower() in ("exit", "quit", "退出"):
            return 0
        if not line.strip():
            continue
        ans = _show(pipeline, line.strip(), history, args.audience)
        if not ans.abstained:
            history = (history + [(ans.rewritten_question, ans.answer)])[-6:]


def cmd_eval_answers(args) -> int:
    from pathlib import Path

    from ..lab.eval_answers import run

    rows = run(_pipeline(args), Path(args.data), limit=args.limit, audience=args.audience,
               sheet=Path(args.sheet) if args.sheet else None, sample=args.sample,
               signals=Path(args.signals) if args.signals else None)
    if args.json:
        print(json.dumps(rows, ensure_ascii=False))
    else:
        for k, v in rows.items():
            print(f"{k}: {v}")
    return 0


def add_commands(sub) -> None:
    a = sub.add_parser("ask", help="回答一个法律问题（附核对过的出处）")
    a.add_argument("question")
    a.add_argument("--audience", choices=AUDIENCES, default="resident", help="resident 群众 / adviser 法律工作者 / enterprise 企业")
    a.add_argument("--json", action="store_true", help="输出完整的回答对象")
    a.set_defaults(func=cmd_ask)

    c = sub.add_parser("chat", help="多轮问答：每行一个问题，输入 exit 结束")
    c.add_argument("--audience", choices=AUDIENCES, default="resident")
    c.set_defaults(func=cmd_chat)
