"""The record of every sync: `<FARUN_DATA_DIR>/sync.sqlite`, one row per run (dry runs aside).

A row says which source (name, kind, URL or path, --path), what was synced (the commit, or the
hash of every file of a folder), when, whether it was applied, the counts of its report and,
for a failure, why. `summary` is what `python -m bot stats`, `/api/health` and the page header
show: the latest run of each source and its last successful one.
"""
from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from ..migrations import migrate

FILE = "sync.sqlite"

# Each entry upgrades the schema by one version (bot.migrations: PRAGMA user_version).
MIGRATIONS = [
    """
    CREATE TABLE syncs (
        id INTEGER PRIMARY KEY,
        source TEXT NOT NULL,
        kind TEXT NOT NULL,
        location TEXT NOT NULL,
        path TEXT NOT NULL DEFAULT '',
        revision TEXT NOT NULL DEFAULT '',
        files TEXT NOT NULL DEFAULT '{}',
        started TEXT NOT NULL,
        finished TEXT NOT NULL,
        ok INTEGER NOT NULL,
        counts TEXT NOT NULL DEFAULT '{}',
        message TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX syncs_source ON syncs(source, id);
    """,
]


@dataclass
class Run:
    """One sync of one source, as recorded."""

    source: str
    kind: str  # git | folder
    location: str  # the URL or path given
    path: str = ""  # the part of a repository taken (--path)
    revision: str = ""  # commit hash, or the hash over a folder's file hashes
    files: dict[str, str] = field(default_factory=dict)  # folder sources: relative path -> sha1
    started: str = ""
    finished: str = ""
    ok: bool = False
    counts: dict[str, int] = field(default_factory=dict)
    message: str = ""

    def brief(self) -> dict:
        """The run without its file list (what status displays show)."""
        return {k: v for k, v in vars(self).items() if k != "files"}


def path_in(data_dir: Path) -> Path:
    return data_dir / FILE


class SyncLog:
    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.con = sqlite3.connect(path)
        self.con.row_factory = sqlite3.Row
        migrate(self.con, MIGRATIONS)

    def record(self, run: Run) -> None:
        with self.con:
            self.con.execute(
                "INSERT INTO syncs (source, kind, location, path, revision, files, started, finished, ok, counts, message)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (run.source, run.kind, run.location, run.path, run.revision,
                 json.dumps(run.files, ensure_ascii=False), run.started, run.finished, int(run.ok),
                 json.dumps(run.counts, ensure_ascii=False), run.message))

    def last(self, source: str, ok_only: bool = False) -> Run | None:
        row = self.con.execute(
            f"SELECT * FROM syncs WHERE source = ? {'AND ok = 1' if ok_only else ''} ORDER BY id DESC LIMIT 1",
            (source,)).fetchone()
        return _run(row) if row else None

    def kind_of(self, location: str) -> str | None:
        """How a location was synced last (git or folder), if it was."""
        row = self.con.execute("SELECT kind FROM syncs WHERE location = ? ORDER BY id DESC LIMIT 1", (location,)).fetchone()
        return row[0] if row else None

    def sources(self) -> list[str]:
        return [r[0] for r in self.con.execute("SELECT DISTINCT source FROM syncs ORDER BY source")]

    def close(self) -> None:
        self.con.close()


def _run(row: sqlite3.Row) -> Run:
    return Run(row["source"], row["kind"], row["location"], row["path"], row["revision"], json.loads(row["files"]),
               row["started"], row["finished"], bool(row["ok"]), json.loads(row["counts"]), row["message"])


def summary(data_dir: Path) -> list[dict]:
    """Per synced source: its latest run, and when it last synced successfully (and what)."""
    path = path_in(data_dir)
    if not path.exists():
        return []
    try:
        log = SyncLog(path)
    except sqlite3.DatabaseError as exc:  # a damaged record must not take the health check down
        return [{"source": "", "ok": False, "message": f"同步记录 {path} 无法读取（{exc}）"}]
    try:
        out = []
        for source in log.sources():
            latest, good = log.last(source), log.last(source, ok_only=True)
            out.append(latest.brief() | {"last_ok": good.finished if good else "",
                                         "last_ok_revision": good.revision if good else ""})
        return out
    finally:
        log.close()
