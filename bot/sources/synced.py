"""The folders `python -m bot sync` keeps current, and how a build reads them back.

Every synced source has a folder `<FARUN_DATA_DIR>/sync/<name>/` with its files as of its last
sync: a git working tree (only the `--path` part checked out) or a copy of a folder's files. A
full build (`bot.index.builder.collect`) loads each of them the way the sync did, under the same
source label, so a rebuild keeps what was synced and a later sync finds its documents again by
their ids. Names starting with "." are work in progress (a clone being made, a copy being
staged) and are never read.
"""
from __future__ import annotations

from pathlib import Path

from . import Skipped
from .folder import Loaded, load_folder
from .markdown import is_decision

SYNC_DIR = "sync"
PREFIX = "sync:"


def root(data_dir: Path) -> Path:
    return data_dir / SYNC_DIR


def label(name: str) -> str:
    """The source label (Unit.source) of a synced source's units."""
    return PREFIX + name


def folders(data_dir: Path) -> list[tuple[str, Path]]:
    """(name, folder) of every synced source, by name."""
    base = root(data_dir)
    if not base.is_dir():
        return []
    return [(p.name, p) for p in sorted(base.iterdir()) if p.is_dir() and not p.name.startswith(".")]


def load(folder: Path, name: str, max_bytes: int) -> Loaded:
    """The units of one synced folder (or of a staged copy of it) under the source's label.

    A statute repository (a git working tree) holds articles: a file of it with no 第X条 that is
    not an amendment or repeal decision is an index page or a note, and is skipped with that
    reason rather than served as a law."""
    loaded = load_folder(folder, source=label(name), max_bytes=max_bytes)
    if not (folder / ".git").exists():
        return loaded
    docs: dict[str, list] = {}
    for u in loaded.units:
        docs.setdefault(u.doc_id, []).append(u)
    prose = {d for d, units in docs.items() if not any(u.article for u in units) and not is_decision(units[0].law)}
    for doc_id in sorted(prose):
        u = docs[doc_id][0]
        loaded.skipped.append(Skipped(u.extra.get("file", u.law), "没有“第X条”形式的条文，不像法规正文（目录页或说明？）"))
    loaded.units = [u for u in loaded.units if u.doc_id not in prose]
    return loaded
