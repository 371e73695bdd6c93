"""Command `sync` (registered by `bot.cli.main` with `add_commands(sub)`): keep statutes current
from public sources — git repositories in the LawRefBook/Laws or Bibliotheca layout, or folders
of downloaded documents — with an incremental, atomic index update per source (bot.sync)."""
from __future__ import annotations

import sys

from .common import print_json, settings


def cmd_sync(args) -> int:
    from ..sync.run import previous_sources, sync

    chosen = settings(args)
    targets = [(s, args.path or "") for s in args.source] or previous_sources(chosen.data_dir)
    if not targets:
        raise ValueError("没有指定来源，也没有同步过的来源：python -m bot sync URL或目录 [--path 子目录]")
    outcomes = [sync(chosen, location, path, dry_run=args.dry_run) for location, path in targets]
    if args.json:
        print_json([o.to_json() for o in outcomes])
    else:
        for o in outcomes:
            print(o.text(), file=sys.stdout if o.changes else sys.stderr)
    return 0 if all(o.run.ok for o in outcomes) else 1


def add_commands(sub) -> None:
    s = sub.add_parser("sync", help="从公开来源（git 仓库或文件目录）同步法规，增量更新索引并报告变化")
    s.add_argument("source", nargs="*",
                   help="git 仓库地址或本地路径（LawRefBook/Laws、Bibliotheca 格式），或文件目录；不写则重新同步所有同步过的来源")
    s.add_argument("--path", help="只取仓库（或目录）中的这个子目录，如 DLC/山东地方法规；对每个 SOURCE 都适用")
    s.add_argument("--dry-run", action="store_true", help="只报告变化，不更新索引，不记录")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_sync)
