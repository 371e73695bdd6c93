"""A connection pool over one records database, SQLite or PostgreSQL (bot.dialects), for
bot.records: transactions, queries returning dict rows, and the schema migrations.

Connections are lent one at a time to whichever thread asks (the API's worker threads, gradio's)
and given back after the statement or transaction, so a process holds at most `POOL_SIZE` of
them however many threads it runs; several worker processes share the database itself. SQLite
files run in WAL mode with a busy timeout (writers wait for each other instead of failing);
PostgreSQL connections run in autocommit with explicit transactions, like SQLite's.
"""
from __future__ import annotations

import queue
import re
import sqlite3
import threading
from contextlib import contextmanager, suppress
from pathlib import Path

from .dialects import POSTGRES, SQLITE, is_postgres_url
from .migrations import migrate

BUSY_TIMEOUT_MS = 10_000
POOL_SIZE = 8  # per process: the API's threads mostly wait for the CPU, not for the database
CONNECT_TIMEOUT_S = 10


class DatabaseUnavailable(RuntimeError):
    """The records database cannot be opened; the message says which and why (never a password)."""


def masked(url: str) -> str:
    """A database URL with its password replaced by ***."""
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


def _rollback(con) -> None:
    """End a failed transaction (also one whose COMMIT failed, so the connection goes back clean);
    an error of the rollback itself must not hide the one that caused it."""
    with suppress(Exception):
        con.execute("ROLLBACK")


def _dict_row(cursor, row) -> dict:
    return {d[0]: v for d, v in zip(cursor.description, row)}


class Database:
    """`target`: a SQLite file (Path) or a postgresql:// URL."""

    def __init__(self, target: Path | str, pool_size: int = POOL_SIZE):
        if isinstance(target, str) and "://" in target and not is_postgres_url(target):
            raise DatabaseUnavailable(f"不支持的数据库地址 {masked(target)}：FARUN_DATABASE_URL 应写作 "
                                      "postgresql://用户:密码@主机:5432/库名（不设则用 SQLite）")
        self.url = target if is_postgres_url(target) else None
        self.path = None if self.url else Path(target)
        self.dialect = POSTGRES if self.url else SQLITE
        self.IntegrityError = self.dialect.integrity_errors()
        self._idle: queue.LifoQueue = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(pool_size)

    def __repr__(self) -> str:
        return f"Database({masked(self.url) if self.url else str(self.path)!r})"

    @property
    def where(self) -> str:
        """What the database is, for messages: the file, or the URL without its password."""
        return masked(self.url) if self.url else str(self.path)

    # ---- connections ---------------------------------------------------------------------------
    def _connect(self):
        if self.url:
            try:
                import psycopg
                import psycopg.rows
            except ImportError as exc:  # pragma: no cover - psycopg is in requirements.txt
                raise DatabaseUnavailable("使用 PostgreSQL 需要安装 psycopg（pip install -r requirements.txt）") from exc
            try:
                con = psycopg.connect(self.url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S)
            except psycopg.Error as exc:
                reason = str(exc).replace(self.url, self.where).strip()
                raise DatabaseUnavailable(f"无法连接记录数据库 {self.where}（FARUN_DATABASE_URL）：{reason}") from None
            con.row_factory = psycopg.rows.dict_row
            return con
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            con = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                                  check_same_thread=False)  # lent to one thread at a time by the pool
            con.row_factory = _dict_row
            con.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            con.execute("PRAGMA foreign_keys = ON")
        except sqlite3.Error as exc:
            raise DatabaseUnavailable(f"无法打开记录数据库 {self.path}：{exc}") from None
        return con

    def _healthy(self, con) -> bool:
        return not (self.url and (con.closed or con.broken))

    @contextmanager
    def connection(self):
        """Borrow a connection for one statement or transaction."""
        self._slots.acquire()
        con = None
        try:
            while con is None:
                try:
                    con = self._idle.get_nowait()
                except queue.Empty:
                    con = self._connect()
                    break
                if not self._healthy(con):
                    con = None
            yield con
        finally:
            if con is not None:
                if self._healthy(con):
                    self._idle.put(con)
                else:
                    con.close()
            self._slots.release()

    @contextmanager
    def transaction(self):
        """A connection inside BEGIN … COMMIT (ROLLBACK on any error)."""
        with self.connection() as con:
            con.execute(self.dialect.begin)
            try:
                yield _Statements(con, self.dialect)
                con.execute("COMMIT")
            except BaseException:
                _rollback(con)
                raise

    def rows(self, sql: str, params=()) -> list[dict]:
        with self.connection() as con:
            return list(con.execute(self.dialect.sql(sql), tuple(params)).fetchall())

    def one(self, sql: str, params=()) -> dict | None:
        with self.connection() as con:
            return con.execute(self.dialect.sql(sql), tuple(params)).fetchone()

    def migrate(self, steps) -> int:
        with self.connection() as con:
            if self.path is not None:
                con.execute("PRAGMA journal_mode=WAL")
            return migrate(con, steps, self.dialect)

    def close(self) -> None:
        """Close the idle connections (a later call opens new ones as needed)."""
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                return


class _Statements:
    """The statements of one transaction, with `?` placeholders (the dialect converts them)."""

    def __init__(self, con, dialect):
        self.con, self.dialect = con, dialect

    def execute(self, sql: str, params=()):
        return self.con.execute(self.dialect.sql(sql), tuple(params))
