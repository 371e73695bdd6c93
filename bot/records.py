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
            "   WHERE q2.question = q.question AND f.rating = 'bad') AS bad"
            " FROM questions q GROUP BY q.topic, q.question ORDER BY times DESC, last_asked DESC")
        out = io.StringIO()
        w = csv.writer(out)
        w.writerow(["主题", "问题", "次数", "首次提问", "最近提问", "未能回答次数", "好", "差"])
        for r in rows:
            w.writerow([r["topic"], r["question"], r["times"], r["first_asked"], r["last_asked"],
                        r["abstained"], r["good"], r["bad"]])
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
