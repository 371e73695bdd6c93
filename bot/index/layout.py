"""Where an index lives on disk, its manifest, and the atomic swap.

    index/
      current -> builds/20261129-140501-ab12   (symlink, replaced atomically)
      builds/<stamp>/units.sqlite, dense.faiss, bm25/, manifest.json

A build or update writes a new folder under builds/ and only then repoints `current`, so a
crash at any moment leaves the previous index serving. `changing(root)` is the lock that makes
the incremental updates of several worker processes (uploads, published cards) one at a time.
"""
from __future__ import annotations

import fcntl
import json
import os
import secrets
import shutil
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


@contextmanager
def changing(root: Path):
    """Hold the index's update lock (an flock on root/.update.lock) for the block: threads and
    processes that change the index wait for each other; readers never wait."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".update.lock", "a") as lock:  # a file of its own per holder: flock then excludes threads too
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def new_build_dir(root: Path) -> Path:
    folder = root / "builds" / f"{datetime.now():%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"
    folder.mkdir(parents=True)
    return folder


def swap_in(root: Path, folder: Path) -> None:
    """Point `current` at folder atomically, then delete builds that nothing points at."""
    tmp = root / f".current-{secrets.token_hex(4)}"
    os.symlink(os.path.relpath(folder, root), tmp)
    os.replace(tmp, root / "current")
    for old in (root / "builds").iterdir():
        if old.resolve() != folder.resolve():
            shutil.rmtree(old, ignore_errors=True)
