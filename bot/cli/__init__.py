"""Command line: `python -m bot build | search | article | stats | eval | ask | chat | mcp`.

* `main`    — the parser and the retrieval commands (build, search, article, stats, eval)
* `answers` — the answer commands (ask, chat) and `eval answers`
* `serve`   — `mcp`: the MCP server over stdio (`bot.mcp_server`)
* `common`  — what all take from the arguments (settings) and how they print JSON

The CLI only parses arguments and renders library results (text or --json); the evaluation it
runs lives in `bot.lab`.
"""
from .main import main, parser

__all__ = ["main", "parser"]
