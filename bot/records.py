"""What the app remembers between restarts: question logs, feedback and the registry of uploaded
documents, in one SQLite file (default var/farun.sqlite; FARUN_DATA_DIR moves it).

Questions are stored redacted (ID-card numbers, phone numbers, names where a pattern gives them
away); answers are never stored in full, only their decision and the articles they cited. WAL mode
and a busy timeout let the API's worker threads write at the same time; the schema is upgraded by
`MIGRATIONS` as recorded in PRAGMA user_version (bot.migrations, as bot/index/store.py's).
"""
from __future__ import annotations

import csv
import io
import json
import re
import sqlite3
import threading
from collections import Counter
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from .answer.privacy import redact
from .config import Settings
from .migrations import migrate

BUSY_TIMEOUT_MS = 10_000
RATINGS = {"good": "好", "bad": "差"}

MIGRATIONS = [
    """
    CREATE TABLE questions (
        id INTEGER PRIMARY KEY,
        asked TEXT NOT NULL,            -- ISO timestamp, local time
        audience TEXT NOT NULL,
        question TEXT NOT NULL,         -- redacted
        topic TEXT NOT NULL,
        decision TEXT NOT NULL DEFAULT '',
        abstained INTEGER NOT NULL DEFAULT 0,
        citations TEXT NOT NULL DEFAULT '[]',
        confidence REAL NOT NULL DEFAULT 0
    );
    CREATE INDEX questions_asked ON questions(asked);
    CREATE TABLE feedback (
        id INTEGER PRIMARY KEY,
        question_id INTEGER REFERENCES questions(id),
        given TEXT NOT NULL,
        rating TEXT NOT NULL CHECK (rating IN ('good', 'bad')),
        reason TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX feedback_question ON feedback(question_id);
    CREATE TABLE documents (
        doc_id TEXT PRIMARY KEY,
        title TEXT NOT NULL,
        level TEXT NOT NULL,
        issuer TEXT NOT NULL DEFAULT '',
        doc_number TEXT NOT NULL DEFAULT '',
        published TEXT NOT NULL DEFAULT '',
        valid_from TEXT NOT NULL DEFAULT '',
        valid_to TEXT NOT NULL DEFAULT '',
        file TEXT NOT NULL DEFAULT '',
        units INTEGER NOT NULL DEFAULT 0,
        uploaded TEXT NOT NULL
    );
    """,
    # 2: accounts of admins and grid legal advisers (bot.loop.accounts); only salted scrypt hashes
    """
    CREATE TABLE accounts (
        id INTEGER PRIMARY KEY,
        name TEXT UNIQUE NOT NULL,
        role TEXT NOT NULL CHECK (role IN ('admin', 'adviser')),
        grids TEXT NOT NULL DEFAULT '[]',   -- JSON list of the grid numbers an adviser covers
        salt BLOB NOT NULL,
        digest BLOB NOT NULL,
        active INTEGER NOT NULL DEFAULT 1,
        created TEXT NOT NULL
    );
    """,
    # 3: the closed loop (bot.loop.tickets): hand-over tickets, advisers' replies, draft Q&A cards
    """
    CREATE TABLE tickets (
        id INTEGER PRIMARY KEY,
        code TEXT UNIQUE NOT NULL,          -- what the resident reads the reply with (unguessable)
        created TEXT NOT NULL,
        updated TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT '待处理' CHECK (status IN ('待处理', '已回复', '已关闭')),
        grid INTEGER NOT NULL,
        question TEXT NOT NULL,             -- redacted like the question log
        topic TEXT NOT NULL,
        conversation TEXT NOT NULL DEFAULT '[]',   -- JSON [[question, answer], ...], redacted
        answer TEXT NOT NULL DEFAULT '',    -- the bot's answer
        sources TEXT NOT NULL DEFAULT '[]', -- JSON: the bot answer's citations
        decision TEXT NOT NULL DEFAULT '',
        reason TEXT NOT NULL DEFAULT 'asked',      -- why it was handed over
        contact TEXT NOT NULL DEFAULT '',   -- optional; only here, shown to the grid's advisers and admins only
        question_id INTEGER REFERENCES questions(id),
        rating TEXT CHECK (rating IN ('good', 'bad')),
        rating_reason TEXT NOT NULL DEFAULT '',
        rated TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX tickets_queue ON tickets(grid, status, created);
    CREATE TABLE replies (
        id INTEGER PRIMARY KEY,
        ticket_id INTEGER NOT NULL REFERENCES tickets(id),
        adviser TEXT NOT NULL,
        created TEXT NOT NULL,
        text TEXT NOT NULL,
        citations TEXT NOT NULL DEFAULT '[]'    -- JSON: verified citations of the text
    );
    CREATE INDEX replies_ticket ON replies(ticket_id);
    CREATE TABLE cards (
        id INTEGER PRIMARY KEY,
        ticket_id INTEGER REFERENCES tickets(id),
        reply_id INTEGER REFERENCES replies(id),
        author TEXT NOT NULL,
        created TEXT NOT NULL,
        updated TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'published', 'rejected')),
        fields TEXT NOT NULL,               -- JSON: the Q&A card (bot.sources.knowledge.QACard fields)
        reviewer TEXT NOT NULL DEFAULT '',
        reviewed TEXT NOT NULL DEFAULT '',
        note TEXT NOT NULL DEFAULT '',
        doc_id TEXT NOT NULL DEFAULT '',
        unit_id TEXT NOT NULL DEFAULT '',
        file TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX cards_status ON cards(status, id);
    """,
]

# Topics of the demand analysis: the first whose keywords occur in the question wins.
TOPICS: dict[str, tuple[str, ...]] = {
    "劳动用工": ("劳动", "工资", "加班", "辞退", "开除", "社保", "工伤", "合同到期", "试用期", "老板", "公司", "单位", "上班", "裁员", "经济补偿"),
    "婚姻家庭": ("离婚", "结婚", "彩礼", "抚养", "夫妻", "婚姻", "家暴", "赡养", "老人", "子女"),
    "继承": ("继承", "遗产", "遗嘱", "遗赠"),
    "消费维权": ("消费", "商家", "退货", "退款", "假货", "网购", "预付卡", "食品", "维权", "商品", "七天", "投诉"),
    "房屋租赁": ("租房", "房东", "押金", "租金", "房租", "租赁", "租客", "退租"),
    "借贷纠纷": ("借钱", "借款", "欠钱", "欠款", "利息", "借条", "还钱", "催收", "担保", "保证人"),
    "交通事故": ("交通", "车祸", "撞", "交强险", "肇事", "驾驶"),
    "邻里纠纷": ("邻居", "邻里", "噪音", "漏水", "相邻", "物业"),
    "企业政策": ("小微企业", "个体工商户", "增值税", "所得税", "减免", "税费", "纳税", "融资", "政府采购", "研发费用"),
}
OTHER_TOPIC = "其他"

# Names given away by how people introduce them; replaced like redact() does numbers.
_NAME_PATTERNS = [
    re.compile(r"(?P<lead>我叫|我的名字是|名叫|姓名[:：是为]?\s*)(?P<name>[\u4e00-\u9fff]{2,3})"),
    re.compile(r"(?P<name>[\u4e00-\u9fff])(?P<lead>)(?=先生|女士|小姐)"),
]


def redact_log(text: str) -> str:
    """redact() plus names where a pattern makes them detectable (我叫张三, 姓名：李四, 王先生)."""
    text = redact(text or "")
    for pattern in _NAME_PATTERNS:
        text = pattern.sub(lambda m: m.group("lead") + "[姓名]", text)
    return text


def topic_of(question: str) -> str:
    for topic, words in TOPICS.items():
        if any(w in question for w in words):
            return topic
    return OTHER_TOPIC


def default_path() -> Path:
    """var/farun.sqlite, or farun.sqlite in Settings.data_dir (FARUN_DATA_DIR)."""
    return Settings.load().data_dir / "farun.sqlite"


def uploads_dir(db_path: Path | None = None) -> Path:
    """Where uploaded files are kept: next to the database (var/uploads/)."""
    return (db_path or default_path()).parent / "uploads"


def _now() -> str:
    return datetime.now().isoformat(timespec="seconds")


class Records:
    """One SQLite file; a connection per thread (sqlite3 connections are not shared across threads)."""

    def __init__(self, path: Path | None = None):
        self.path = Path(path or default_path())
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        con = self._con()
        con.execute("PRAGMA journal_mode=WAL")
        migrate(con, MIGRATIONS)  # one transaction per step: a crash leaves the file at the previous version

    # ---- plumbing ----------------------------------------------------------------------------
    def _con(self) -> sqlite3.Connection:
        con = getattr(self._local, "con", None)
        if con is None:
            con = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
            con.row_factory = sqlite3.Row
            con.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            con.execute("PRAGMA foreign_keys = ON")
            self._local.con = con
        return con

    @contextmanager
    def _tx(self):
        con = self._con()
        con.execute("BEGIN IMMEDIATE")
        try:
            yield con
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")

    def pragma(self, name: str):
        return self._con().execute(f"PRAGMA {name}").fetchone()[0]

    def close(self) -> None:
        con = getattr(self._local, "con", None)
        if con is not None:
            con.close()
            self._local.con = None

    # ---- questions and feedback ------------------------------------------------------------------
    def log_question(self, question: str, audience: str = "resident", answer=None) -> int:
        """Store a (redacted) question and what became of it; returns its id for feedback."""
        q = redact_log(question)[:2000]
        cites = [c.label for c in answer.citations] if answer is not None else []
        with self._tx() as con:
            cur = con.execute(
                "INSERT INTO questions (asked, audience, question, topic, decision, abstained, citations, confidence)"
                " VALUES (?,?,?,?,?,?,?,?)",
                (_now(), audience, q, topic_of(q), answer.decision if answer is not None else "",
                 int(bool(answer and answer.abstained)), json.dumps(cites, ensure_ascii=False),
                 float(answer.confidence) if answer is not None else 0.0))
            return cur.lastrowid

    def has_question(self, question_id: int) -> bool:
        return self._con().execute("SELECT 1 FROM questions WHERE id = ?", (question_id,)).fetchone() is not None

    def add_feedback(self, question_id: int | None, rating: str, reason: str = "") -> int:
        rating = {"好": "good", "差": "bad"}.get(rating, rating)
        if rating not in RATINGS:
            raise ValueError("rating 只能是 good/好 或 bad/差")
        with self._tx() as con:
            cur = con.execute("INSERT INTO feedback (question_id, given, rating, reason) VALUES (?,?,?,?)",
                              (question_id, _now(), rating, redact_log(reason or "")[:1000]))
            return cur.lastrowid

    def set_reason(self, feedback_id: int, reason: str) -> bool:
        """Add the optional reason to feedback given a moment ago (the page asks after the click)."""
        with self._tx() as con:
            return con.execute("UPDATE feedback SET reason = ? WHERE id = ?",
                               (redact_log(reason or "")[:1000], feedback_id)).rowcount > 0

    def _rows(self, sql: str, *params) -> list[dict]:
        return [dict(r) for r in self._con().execute(sql, params)]

    def questions(self, limit: int = 1000) -> list[dict]:
        return self._rows("SELECT * FROM questions ORDER BY id DESC LIMIT ?", limit)

    def feedback(self, limit: int = 1000) -> list[dict]:
        return self._rows("SELECT f.*, q.question FROM feedback f LEFT JOIN questions q ON q.id = f.question_id"
                          " ORDER BY f.id DESC LIMIT ?", limit)

    # ---- demand analytics --------------------------------------------------------------------
    def per_topic_day(self) -> list[dict]:
        """Questions per topic per day: [{"day", "topic", "questions"}]."""
        return self._rows("SELECT substr(asked, 1, 10) AS day, topic, COUNT(*) AS questions FROM questions"
                          " GROUP BY day, topic ORDER BY day, topic")

    def most_asked(self, limit: int = 20) -> list[dict]:
        return self._rows("SELECT question, topic, COUNT(*) AS times, MAX(asked) AS last_asked FROM questions"
                          " GROUP BY question ORDER BY times DESC, last_asked DESC LIMIT ?", limit)

    def unmet(self, limit: int = 100) -> list[dict]:
        """Questions answered 差 or abstained on: where the knowledge is missing or wrong."""
        rows = self._con().execute(
            "SELECT q.id, q.asked, q.topic, q.question, q.decision, q.abstained,"
            " SUM(f.rating = 'bad') AS bad, GROUP_CONCAT(NULLIF(f.reason, ''), '；') AS reasons"
            " FROM questions q LEFT JOIN feedback f ON f.question_id = q.id"
            " GROUP BY q.id HAVING q.abstained = 1 OR SUM(f.rating = 'bad') > 0"
            " ORDER BY q.id DESC LIMIT ?", (limit,))
        return [dict(r) | {"bad": r["bad"] or 0, "reasons": r["reasons"] or ""} for r in rows]

    def demand_csv(self) -> str:
        """The 普法需求清单: every distinct question with its topic, counts, 差 votes and abstentions."""
        rows = self._con().execute(
            "SELECT q.topic, q.question, COUNT(DISTINCT q.id) AS times, MIN(q.asked) AS first_asked,"
            " MAX(q.asked) AS last_asked, SUM(q.abstained) AS abstained,"
            " (SELECT COUNT(*) FROM feedback f JOIN questions q2 ON q2.id = f.question_id"
            "   WHERE q2.question = q.question AND f.rating = 'good') AS good,"
            " (SELECT COUNT(*) FROM feedback f JOIN questions q2 ON q2.id = f.question_id"
            "   WHERE q2.question = q.question AND f.rating = 'bad') AS bad,"
            " (SELECT COUNT(*) FROM tickets t WHERE t.question = q.question) AS handed"
            " FROM questions q GROUP BY q.topic, q.question ORDER BY times DESC, last_asked DESC")
        out = io.StringIO()
        w = csv.writer(out)
        w.writerow(["主题", "问题", "次数", "首次提问", "最近提问", "未能回答次数", "好", "差", "转给顾问"])
        for r in rows:
            w.writerow([r["topic"], r["question"], r["times"], r["first_asked"], r["last_asked"],
                        r["abstained"], r["good"], r["bad"], r["handed"]])
        return out.getvalue()

    def topic_counts(self) -> Counter:
        return Counter({r["topic"]: r["n"] for r in self._con().execute(
            "SELECT topic, COUNT(*) AS n FROM questions GROUP BY topic")})

    # ---- uploaded documents -------------------------------------------------------------------
    def register_document(self, doc_id: str, title: str, level: str, units: int, file: str = "", **meta) -> None:
        keys = ("issuer", "doc_number", "published", "valid_from", "valid_to")
        with self._tx() as con:
            con.execute(
                "INSERT OR REPLACE INTO documents (doc_id, title, level, issuer, doc_number, published, valid_from,"
                " valid_to, file, units, uploaded) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (doc_id, title, level, *(str(meta.get(k) or "") for k in keys), file, units, _now()))

    def documents(self) -> list[dict]:
        return self._rows("SELECT * FROM documents ORDER BY uploaded DESC, title")

    def document(self, doc_id: str) -> dict | None:
        row = self._con().execute("SELECT * FROM documents WHERE doc_id = ?", (doc_id,)).fetchone()
        return dict(row) if row else None

    def unregister_document(self, doc_id: str) -> bool:
        with self._tx() as con:
            return con.execute("DELETE FROM documents WHERE doc_id = ?", (doc_id,)).rowcount > 0

    # ---- accounts (bot.loop.accounts holds the rules) -------------------------------------------
    def add_account(self, name: str, role: str, grids: list[int], salt: bytes, digest: bytes) -> bool:
        """False when the name is taken."""
        try:
            with self._tx() as con:
                con.execute("INSERT INTO accounts (name, role, grids, salt, digest, created) VALUES (?,?,?,?,?,?)",
                            (name, role, json.dumps(grids), salt, digest, _now()))
        except sqlite3.IntegrityError:
            return False
        return True

    @staticmethod
    def _account(row) -> dict:
        return dict(row) | {"grids": json.loads(row["grids"] or "[]")}

    def account(self, name: str) -> dict | None:
        row = self._con().execute("SELECT * FROM accounts WHERE name = ?", (name,)).fetchone()
        return self._account(row) if row else None

    def accounts(self) -> list[dict]:
        return [self._account(r) for r in self._con().execute("SELECT * FROM accounts ORDER BY role, name")]

    def update_account(self, name: str, **values) -> bool:
        """Change grids, salt + digest or active of one account; False when there is none."""
        allowed = {"grids", "salt", "digest", "active"}
        if not values or set(values) - allowed:
            raise ValueError(f"update_account: only {sorted(allowed)}")
        if "grids" in values:
            values["grids"] = json.dumps(values["grids"])
        cols = ", ".join(f"{k} = ?" for k in values)
        with self._tx() as con:
            return con.execute(f"UPDATE accounts SET {cols} WHERE name = ?", (*values.values(), name)).rowcount > 0

    # ---- tickets, replies, draft cards (bot.loop.tickets holds the rules) ------------------------
    def add_ticket(self, code: str, grid: int, question: str, conversation: list, answer: str = "",
                   sources: list | None = None, decision: str = "", reason: str = "asked", contact: str = "",
                   question_id: int | None = None) -> int | None:
        """The new ticket's id; None when the code is taken (the caller draws another)."""
        now = _now()
        try:
            with self._tx() as con:
                return con.execute(
                    "INSERT INTO tickets (code, created, updated, grid, question, topic, conversation, answer, sources,"
                    " decision, reason, contact, question_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (code, now, now, grid, question, topic_of(question), json.dumps(conversation, ensure_ascii=False),
                     answer, json.dumps(sources or [], ensure_ascii=False), decision, reason, contact,
                     question_id)).lastrowid
        except sqlite3.IntegrityError as exc:
            if "code" in str(exc):
                return None
            raise

    @staticmethod
    def _ticket(row) -> dict:
        return dict(row) | {"conversation": json.loads(row["conversation"]), "sources": json.loads(row["sources"])}

    def ticket(self, ticket_id: int | None = None, code: str | None = None) -> dict | None:
        where, value = ("id", ticket_id) if code is None else ("code", code)
        row = self._con().execute(f"SELECT * FROM tickets WHERE {where} = ?", (value,)).fetchone()
        return self._ticket(row) if row else None

    def tickets(self, grids: list[int] | None = None, statuses: list[str] | None = None, limit: int = 1000) -> list[dict]:
        """Oldest first; only those of `grids` / `statuses` when given."""
        sql, params = "SELECT * FROM tickets WHERE 1=1", []
        for col, values in (("grid", grids), ("status", statuses)):
            if values is not None:
                sql += f" AND {col} IN ({','.join('?' * len(values))})"
                params += list(values)
        return [self._ticket(r) for r in self._con().execute(sql + " ORDER BY created, id LIMIT ?", (*params, limit))]

    def add_reply(self, ticket_id: int, adviser: str, text: str, citations: list) -> int | None:
        """Store a reply and mark the ticket 已回复, in one transaction; None when it is closed."""
        now = _now()
        with self._tx() as con:
            if con.execute("UPDATE tickets SET status = '已回复', updated = ? WHERE id = ? AND status != '已关闭'",
                           (now, ticket_id)).rowcount == 0:
                return None
            return con.execute("INSERT INTO replies (ticket_id, adviser, created, text, citations) VALUES (?,?,?,?,?)",
                               (ticket_id, adviser, now, text, json.dumps(citations, ensure_ascii=False))).lastrowid

    def replies(self, ticket_id: int) -> list[dict]:
        return [dict(r) | {"citations": json.loads(r["citations"])} for r in self._con().execute(
            "SELECT * FROM replies WHERE ticket_id = ? ORDER BY id", (ticket_id,))]

    def rate_ticket(self, ticket_id: int, rating: str, reason: str = "") -> bool:
        """Rate a replied ticket once (it is closed by it); False when not replied or already rated."""
        with self._tx() as con:
            return con.execute(
                "UPDATE tickets SET rating = ?, rating_reason = ?, rated = ?, updated = ?, status = '已关闭'"
                " WHERE id = ? AND status = '已回复' AND rating IS NULL",
                (rating, redact_log(reason)[:1000], _now(), _now(), ticket_id)).rowcount > 0

    def close_ticket(self, ticket_id: int) -> bool:
        with self._tx() as con:
            return con.execute("UPDATE tickets SET status = '已关闭', updated = ? WHERE id = ? AND status != '已关闭'",
                               (_now(), ticket_id)).rowcount > 0

    def add_card(self, ticket_id: int | None, reply_id: int | None, author: str, fields: dict) -> int:
        now = _now()
        with self._tx() as con:
            return con.execute("INSERT INTO cards (ticket_id, reply_id, author, created, updated, fields)"
                               " VALUES (?,?,?,?,?,?)", (ticket_id, reply_id, author, now, now,
                                                         json.dumps(fields, ensure_ascii=False))).lastrowid

    @staticmethod
    def _card(row) -> dict:
        return dict(row) | {"fields": json.loads(row["fields"])}

    def card(self, card_id: int) -> dict | None:
        row = self._con().execute("SELECT * FROM cards WHERE id = ?", (card_id,)).fetchone()
        return self._card(row) if row else None

    def cards(self, status: str | None = None, limit: int = 1000) -> list[dict]:
        sql = "SELECT * FROM cards" + (" WHERE status = ?" if status else "") + " ORDER BY id DESC LIMIT ?"
        return [self._card(r) for r in self._con().execute(sql, ((status,) if status else ()) + (limit,))]

    def demand_rows(self) -> tuple[list[dict], list[dict]]:
        """What the demand list counts (bot.loop.demand): every question with its 差 votes, and every
        ticket with its first reply (time and adviser) — nothing personal."""
        con = self._con()
        questions = [dict(r) for r in con.execute(
            "SELECT q.id, q.asked, q.topic, q.abstained, (SELECT COUNT(*) FROM feedback f WHERE f.question_id = q.id"
            " AND f.rating = 'bad') AS bad FROM questions q")]
        tickets = [dict(r) for r in con.execute(
            "SELECT t.id, t.created, t.topic, t.grid, t.reason, t.status, t.rating,"
            " (SELECT MIN(r.created) FROM replies r WHERE r.ticket_id = t.id) AS first_reply,"
            " (SELECT r.adviser FROM replies r WHERE r.ticket_id = t.id ORDER BY r.id LIMIT 1) AS adviser FROM tickets t")]
        return questions, tickets

    def update_card(self, card_id: int, fields: dict) -> bool:
        """Change a draft's fields; False when it is no longer a draft."""
        with self._tx() as con:
            return con.execute("UPDATE cards SET fields = ?, updated = ? WHERE id = ? AND status = 'draft'",
                               (json.dumps(fields, ensure_ascii=False), _now(), card_id)).rowcount > 0

    def review_card(self, card_id: int, status: str, reviewer: str, note: str = "", fields: dict | None = None,
                    **published) -> bool:
        """A draft published or rejected (once: False when it is no longer a draft)."""
        extra = {k: str(v) for k, v in published.items() if k in ("doc_id", "unit_id", "file")}
        if fields is not None:
            extra["fields"] = json.dumps(fields, ensure_ascii=False)
        cols = "".join(f", {k} = ?" for k in extra)
        with self._tx() as con:
            return con.execute(f"UPDATE cards SET status = ?, reviewer = ?, reviewed = ?, note = ?, updated = ?{cols}"
                               " WHERE id = ? AND status = 'draft'",
                               (status, reviewer, _now(), note[:1000], _now(), *extra.values(), card_id)).rowcount > 0
