"""The one schema migration runner for FaRun's databases: the index store (SQLite) and the records
(SQLite or PostgreSQL, bot.dialects).

A schema's version is the number of steps applied so far: PRAGMA user_version of a SQLite file, the
`schema_version` table of a PostgreSQL database. Each missing step runs in its own transaction
together with the version bump, so a crash or a failing step leaves the schema at the previous
version, never half-way through a step. The version is read again inside that transaction, after
the schema lock (SQLite's write lock, PostgreSQL's advisory lock), so several worker processes
starting at once apply each step exactly once.
"""
from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import suppress

from .dialects import SQLITE, Dialect


def version(con, dialect: Dialect = SQLITE) -> int:
    return dialect.version(con)


def statements(script: str) -> Iterator[str]:
    """The statements of an SQL script, split at the semicolons that end one (not those in
    comments or strings)."""
    buffer = ""
    for part in script.split(";"):
        buffer += part + ";"
        if sqlite3.complete_statement(buffer):
            if buffer.strip(" \t\r\n;"):
                yield buffer
            buffer = ""
    if buffer.strip(" \t\r\n;"):
        yield buffer.rstrip(";")


def migrate(con, steps: Sequence[str], dialect: Dialect = SQLITE) -> int:
    """Apply the steps (SQL scripts, oldest first, with the dialect's DDL words) that `con`'s schema
    lacks; returns its version. `con` is a sqlite3 or psycopg connection."""
    if getattr(con, "in_transaction", False):  # sqlite3 with implicit transactions: finish what is open
        con.commit()
    for number, script in enumerate(steps, start=1):
        if dialect.version(con) >= number:
            continue
        con.execute(dialect.begin)
        try:
            dialect.lock_schema(con)
            if dialect.version(con) < number:  # another process may have applied it meanwhile
                for statement in statements(dialect.ddl(script)):
                    con.execute(statement)
                dialect.set_version(con, number)
            con.execute("COMMIT")
        except BaseException:
            with suppress(Exception):  # an error of the rollback must not hide the step's
                con.execute("ROLLBACK")
            raise
    return dialect.version(con)
