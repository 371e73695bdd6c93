"""python -m bot users: the admin and adviser accounts of the records database.

    python -m bot users add NAME --role adviser --grids 1-5    # password asked twice (or --password-file, FARUN_NEW_PASSWORD)
    python -m bot users add NAME --role admin
    python -m bot users list [--json]
    python -m bot users grids NAME 1-5,8
    python -m bot users passwd NAME
    python -m bot users disable NAME / enable NAME
"""
from __future__ import annotations

import getpass
import sys
from pathlib import Path

from ..config import Settings
from ..database import DatabaseUnavailable
from ..loop.accounts import ROLES, AccountError, Accounts, grids_text
from ..records import Records
from .common import print_json


def _accounts() -> Accounts:
    return Accounts(Records.open(Settings.load()))


def _password(args) -> str:
    """From --password-file, FARUN_NEW_PASSWORD, or asked twice on a terminal; never a default."""
    if args.password_file:
        return Path(args.password_file).read_text(encoding="utf-8").strip("\r\n")
    if env := Settings.load().new_password:
        return env
    if not sys.stdin.isatty():
        raise AccountError("需要密码：在终端里运行以输入密码，或用 --password-file 文件 / 环境变量 FARUN_NEW_PASSWORD")
    first = getpass.getpass(f"{args.name} 的密码：")
    if getpass.getpass("再输入一次：") != first:
        raise AccountError("两次输入的密码不一致")
    return first


def _show(a: dict) -> str:
    grids = f"  网格 {grids_text(a['grids'])}" if a["grids"] else ""
    return f"{a['name']}  {a['role']}{grids}{'' if a['active'] else '  （已停用）'}"


def cmd_users(args) -> int:
    try:
        accounts = _accounts()
        if args.action == "list":
            rows = accounts.list()
            if args.json:
                print_json(rows)
            else:
                print("\n".join(_show(a) for a in rows) or "还没有账号：python -m bot users add NAME --role adviser --grids 1-5")
            return 0
        if not args.name:
            raise AccountError(f"users {args.action} 需要用户名")
        if args.action == "add":
            account = accounts.add(args.name, args.role, _password(args), args.grids)
            print(f"已创建：{_show(account)}")
        elif args.action == "grids":
            if not args.value:
                raise AccountError("users grids NAME 1-5：需要网格")
            print(f"已更新：{_show(accounts.set_grids(args.name, args.value))}")
        elif args.action == "passwd":
            accounts.set_password(args.name, _password(args))
            print(f"已更改 {args.name} 的密码")
        else:
            print(f"已{'启用' if args.action == 'enable' else '停用'}：{_show(accounts.set_active(args.name, args.action == 'enable'))}")
    except (AccountError, DatabaseUnavailable) as exc:
        print(f"错误：{exc}", file=sys.stderr)
        return 2
    return 0


def add_commands(sub) -> None:
    u = sub.add_parser("users", help="管理员与网格法律顾问账号：add / list / grids / passwd / disable / enable")
    u.add_argument("action", choices=("add", "list", "grids", "passwd", "disable", "enable"))
    u.add_argument("name", nargs="?", help="用户名")
    u.add_argument("value", nargs="?", help="grids：负责的网格，如 1-5,8")
    u.add_argument("--role", choices=ROLES, default="adviser")
    u.add_argument("--grids", help="法律顾问负责的网格，如 1-5 或 1,3,8")
    u.add_argument("--password-file", help="从文件读取密码（第一行）")
    u.add_argument("--json", action="store_true")
    u.set_defaults(func=cmd_users)
