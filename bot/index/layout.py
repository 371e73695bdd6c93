"""Where an index lives on disk, its manifest, and the atomic swap.

    index/
      current -> builds/20261129-140501-ab12   (symlink, replaced atomically)
      builds/<stamp>/units.sqlite, dense.faiss, bm25/, manifest.json
      milvus.db                                 (FARUN_INDEX_BACKEND=milvus with milvus-lite: bot.index.milvus)

A build or update writes a new folder under builds/ and only then repoints `current`, so a
crash at any moment leaves the previous index serving. Writers take `writing(root)` first: an
update copies the index it replaces, so two at once (an upload in one worker process, a card
published in another, a sync from cron) would otherwise lose one of the changes.
"""
from __future__ import annotations

import fcntl
import json
import os
import secrets
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

FORMAT = 2  # 2: units.ends_as
MANIFEST = "manifest.json"
STORE = "units.sqlite"


class IndexUnavailable(Exception):
    """The index is missing, damaged or built for another model; the message says what to do."""


@dataclass
class Manifest:
    embedding: str
    dim: int
    units: int
    fingerprint: str
    built: str
    as_of: str
    sources: dict[str, int] = field(default_factory=dict)
    documents: int = 0
    newest_version: str = ""
    skipped: list[dict] = field(default_factory=list)
    format: int = FORMAT
    # entries of bot/data/validity_overrides.json that applied at build time, with unit counts
    overrides: list[dict] = field(default_factory=list)
    collection: str = ""  # the Milvus collection holding this build (bot.index.milvus); none in-process

    def save(self, folder: Path) -> None:
        (folder / MANIFEST).write_text(json.dumps(asdict(self), ensure_ascii=False, indent=1), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> "Manifest":
        path = folder / MANIFEST
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(**data)
        except (OSError, ValueError, TypeError) as exc:
            raise IndexUnavailable(f"索引清单 {path} 缺失或损坏（{exc}）：请运行 python -m bot build 重建索引") from exc


def current(root: Path) -> Path:
    link = root / "current"
    if not link.exists():
        raise IndexUnavailable(f"在 {root} 没有找到索引：请先运行 python -m bot build")
    return link.resolve()


def new_build_dir(root: Path) -> Path:
    folder = root / "builds" / f"{datetime.now():%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"
    folder.mkdir(parents=True)
    return folder


_held = threading.local()  # roots whose writer lock this thread holds (the lock is re-entrant per thread)


@contextmanager
def writing(root: Path) -> Iterator[None]:
    """Hold the index's writer lock (an flock on root/.lock) for the block: other threads' and
    processes' builds and updates wait for it; readers never wait. A thread that holds it (the
    admin service around a read-then-update) may enter it again (`builder.update` inside)."""
    root.mkdir(parents=True, exist_ok=True)
    key = str(root.resolve())
    held = getattr(_held, "roots", None)
    if held is None:
        held = _held.roots = set()
    if key in held:
        yield
        return
    with open(root / ".lock", "w") as lock:  # a file of its own per holder: flock then excludes threads too
        fcntl.flock(lock, fcntl.LOCK_EX)
        held.add(key)
        try:
            yield
        finally:
            held.discard(key)
            fcntl.flock(lock, fcntl.LOCK_UN)


def swap_in(root: Path, folder: Path) -> None:
    """Point `current` at folder atomically, then delete builds that nothing points at."""
    tmp = root / f".current-{secrets.token_hex(4)}"
    os.symlink(os.path.relpath(folder, root), tmp)
    os.replace(tmp, root / "current")
    for old in (root / "builds").iterdir():
        if old.resolve() != folder.resolve():
            shutil.rmtree(old, ignore_errors=True)
