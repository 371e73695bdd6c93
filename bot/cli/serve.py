"""Command `mcp` (registered by `bot.cli.main` with `add_commands(sub)`): 法润 as an MCP server
over stdin/stdout, for Claude Desktop, Cherry Studio, VS Code and other MCP hosts."""
from __future__ import annotations

from .common import settings


def cmd_mcp(args) -> int:
    from ..mcp_server import run_stdio

    run_stdio(settings(args))  # stdout carries the protocol: nothing else is printed there
    return 0


def add_commands(sub) -> None:
    m = sub.add_parser("mcp", help="作为 MCP 服务器运行（stdio）：search、get_article、verify_citations、ask、policy_lookup")
    m.set_defaults(func=cmd_mcp)
