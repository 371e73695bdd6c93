"""The one schema migration runner for FaRun's SQLite files (the index store, the records).

A file's schema version is its PRAGMA user_version: the number of steps applied so far. Each
missing step runs in its own transaction together with the version bump, so a crash or a failing
step leaves the file at the previous version, never half-way through a step.
"""
from __future__ import annotations

import sqlite3
from collections.abc import Sequence


def version(con: sqlite3.Connection) -> int:
    return con.execute("PRAGMA user_version").fetchone()[0]


def migrate(con: sqlite3.Connection, steps: Sequence[str]) -> int:
    """Apply the steps (SQL scripts, oldest first) that `con`'s file lacks; returns its version."""
    if con.in_transaction:
        con.commit()
    current = version(con)
    for i, script in enumerate(steps[current:], start=current + 1):
        try:
            con.executescript(f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version = {i};\nCOMMIT;")
        except BaseException:
            if con.in_transaction:
                con.execute("ROLLBACK")
            raise
    return version(con)
