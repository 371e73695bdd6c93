"""What the app remembers between restarts: question logs, feedback, the registry of uploaded
documents, accounts, login sessions, rate-limit counters, tickets, replies and draft cards — in one
SQLite file (default var/farun.sqlite; FARUN_DATA_DIR moves it) or one PostgreSQL database
(FARUN_DATABASE_URL=postgresql://…), which several worker processes share.

Questions are stored redacted (ID-card numbers, phone numbers, names where a pattern gives them
away); answers are never stored in full, only their decision and the articles they cited. Every
change is one transaction (bot.database: a pool of connections; SQLite in WAL mode with a busy
timeout, so threads and processes write at the same time and lose nothing). The SQL is written
once, with `?` placeholders; bot.dialects holds what differs. The schema is upgraded by
`MIGRATIONS` (bot.migrations, as bot/index/store.py's), recorded in PRAGMA user_version on SQLite
and in the `schema_version` table on PostgreSQL.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections import Counter
from datetime import datetime
from pathlib import Path

from .answer.privacy import redact
from .config import Settings
from .database import Database

RATINGS = {"good": "好", "bad": "差"}

MIGRATIONS = [
    """
    CREATE TABLE questions (
        id {serial},
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
        id {serial},
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
        id {serial},
        name TEXT UNIQUE NOT NULL,
        role TEXT NOT NULL CHECK (role IN ('admin', 'adviser')),
        grids TEXT NOT NULL DEFAULT '[]',   -- JSON list of the grid numbers an adviser covers
        salt {blob} NOT NULL,
        digest {blob} NOT NULL,
        active INTEGER NOT NULL DEFAULT 1,
        created TEXT NOT NULL
    );
    """,
    # 3: the closed loop (bot.loop.tickets): hand-over tickets, advisers' replies, draft Q&A cards
    """
    CREATE TABLE tickets (
        id {serial},
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
        id {serial},
        ticket_id INTEGER NOT NULL REFERENCES tickets(id),
        adviser TEXT NOT NULL,
        created TEXT NOT NULL,
        text TEXT NOT NULL,
        citations TEXT NOT NULL DEFAULT '[]'    -- JSON: verified citations of the text
    );
    CREATE INDEX replies_ticket ON replies(ticket_id);
    CREATE TABLE cards (
        id {serial},
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
    # 4: what must hold across worker processes: logins (bot.loop.accounts.Sessions) and the
    # per-client rate limits (bot.loop.tickets.Throttle)
    """
    CREATE TABLE sessions (
        token_hash TEXT PRIMARY KEY,        -- SHA-256 of the token: the token itself is never stored
        name TEXT NOT NULL,
        role TEXT NOT NULL,
        grids TEXT NOT NULL DEFAULT '[]',
        expires DOUBLE PRECISION NOT NULL   -- Unix time
    );
    CREATE INDEX sessions_name ON sessions(name);
    CREATE TABLE rate_limits (
        bucket TEXT NOT NULL,               -- what is limited: api, lookup, login
        client TEXT NOT NULL,
        hits TEXT NOT NULL DEFAULT '[]',    -- JSON: Unix times of the client's calls counted in the last minute
        last DOUBLE PRECISION NOT NULL,     -- the latest of them
        PRIMARY KEY (bucket, client)
    );
    CREATE INDEX rate_limits_last ON rate_limits(last);
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


def _now() -> str:
    return datetime.now().isoformat(timespec="seconds")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class Records:
    """One records database: a SQLite file (`target` a Path) or PostgreSQL (`target` a
    postgresql:// URL). `data_dir` holds the uploaded files and published cards beside it (for a
    SQLite file, its folder). Without a target: `Records.open(Settings.load())`'s."""

    def __init__(self, target: Path | str | None = None, data_dir: Path | None = None):
        if target is None:
            settings = Settings.load()
            target, data_dir = settings.database_url or settings.data_dir / "farun.sqlite", settings.data_dir
        self.db = Database(target)
        self.path = self.db.path  # the SQLite file; None on PostgreSQL
        self.data_dir = Path(data_dir) if data_dir is not None else self.path.parent
        self.db.migrate(MIGRATIONS)  # one transaction per step: a crash leaves the schema at the previous version

    @classmethod
    def open(cls, settings: Settings) -> "Records":
        """The records of these settings: FARUN_DATABASE_URL, else farun.sqlite in FARUN_DATA_DIR."""
        return cls(settings.database_url or settings.data_dir / "farun.sqlite", settings.data_dir)

    # ---- plumbing ----------------------------------------------------------------------------
    def schema_version(self) -> int:
        with self.db.connection() as con:
            return self.db.dialect.version(con)

    def pragma(self, name: str):
        """A PRAGMA of the SQLite file (journal_mode, busy_timeout …)."""
        if self.path is None:
            raise ValueError("PRAGMA 只适用于 SQLite 记录库")
        row = self.db.one(f"PRAGMA {name}")
        return next(iter(row.values()))

    def close(self) -> None:
        self.db.close()

    def _rows(self, sql: str, *params) -> list[dict]:
        return self.db.rows(sql, params)

    def _one(self, sql: str, *params) -> dict | None:
        return self.db.one(sql, params)

    def _insert(self, sql: str, *params) -> int:
        """Run one INSERT … RETURNING id in its own transaction; the new row's id."""
        with self.db.transaction() as tx:
            return tx.execute(sql + " RETURNING id", params).fetchone()["id"]

    def _change(self, sql: str, *params) -> bool:
        """Run one UPDATE or DELETE in its own transaction; whether it touched a row."""
        with self.db.transaction() as tx:
            return tx.execute(sql, params).rowcount > 0

    # ---- questions and feedback ------------------------------------------------------------------
    def log_question(self, question: str, audience: str = "resident", answer=None) -> int:
        """Store a (redacted) question and what became of it; returns its id for feedback."""
        q = redact_log(question)[:2000]
        cites = [c.label for c in answer.citations] if answer is not None else []
        return self._insert(
            "INSERT INTO questions (asked, audience, question, topic, decision, abstained, citations, confidence)"
            " VALUES (?,?,?,?,?,?,?,?)",
            _now(), audience, q, topic_of(q), answer.decision if answer is not None else "",
            int(bool(answer and answer.abstained)), json.dumps(cites, ensure_ascii=False),
            float(answer.confidence) if answer is not None else 0.0)

    def has_question(self, question_id: int) -> bool:
        return self._one("SELECT 1 AS x FROM questions WHERE id = ?", question_id) is not None

    def add_feedback(self, question_id: int | None, rating: str, reason: str = "") -> int:
        rating = {"好": "good", "差": "bad"}.get(rating, rating)
        if rating not in RATINGS:
            raise ValueError("rating 只能是 good/好 或 bad/差")
        return self._insert("INSERT INTO feedback (question_id, given, rating, reason) VALUES (?,?,?,?)",
                            question_id, _now(), rating, redact_log(reason or "")[:1000])

    def set_reason(self, feedback_id: int, reason: str) -> bool:
        """Add the optional reason to feedback given a moment ago (the page asks after the click)."""
        return self._change("UPDATE feedback SET reason = ? WHERE id = ?", redact_log(reason or "")[:1000], feedback_id)

    def questions(self, limit: int = 1000) -> list[dict]:
        return self._rows("SELECT * FROM questions ORDER BY id DESC LIMIT ?", limit)

    def feedback(self, limit: int = 1000) -> list[dict]:
        return self._rows("SELECT f.*, q.question FROM feedback f LEFT JOIN questions q ON q.id = f.question_id"
                          " ORDER BY f.id DESC LIMIT ?", limit)

    # ---- demand analytics --------------------------------------------------------------------
    def per_topic_day(self) -> list[dict]:
        """Questions per topic per day: [{"day", "topic", "questions"}]."""
        return self._rows("SELECT substr(asked, 1, 10) AS day, topic, COUNT(*) AS questions FROM questions"
                          " GROUP BY substr(asked, 1, 10), topic ORDER BY day, topic")

    def most_asked(self, limit: int = 20) -> list[dict]:
        # a question's topic follows from its text (topic_of), so grouping by both is grouping by the text
        return self._rows("SELECT question, topic, COUNT(*) AS times, MAX(asked) AS last_asked FROM questions"
                          " GROUP BY question, topic ORDER BY times DESC, last_asked DESC LIMIT ?", limit)

    def unmet(self, limit: int = 100) -> list[dict]:
        """Questions answered 差 or abstained on: where the knowledge is missing or wrong."""
        bad = "SUM(CASE WHEN f.rating = 'bad' THEN 1 ELSE 0 END)"
        reasons = self.db.dialect.group_concat("NULLIF(f.reason, '')", "；")
        rows = self._rows(
            f"SELECT q.id, q.asked, q.topic, q.question, q.decision, q.abstained, {bad} AS bad, {reasons} AS reasons"
            " FROM questions q LEFT JOIN feedback f ON f.question_id = q.id"
            f" GROUP BY q.id HAVING q.abstained = 1 OR {bad} > 0"
            " ORDER BY q.id DESC LIMIT ?", limit)
        return [r | {"bad": r["bad"] or 0, "reasons": r["reasons"] or ""} for r in rows]

    def demand_csv(self) -> str:
        """The 普法需求清单: every distinct question with its topic, counts, 差 votes and abstentions."""
        rows = self._rows(
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
        return Counter({r["topic"]: r["n"] for r in self._rows("SELECT topic, COUNT(*) AS n FROM questions GROUP BY topic")})

    # ---- uploaded documents -------------------------------------------------------------------
    def register_document(self, doc_id: str, title: str, level: str, units: int, file: str = "", **meta) -> None:
        """Register an uploaded document; one uploaded again replaces its entry."""
        keys = ("issuer", "doc_number", "published", "valid_from", "valid_to")
        columns = ("title", "level", *keys, "file", "units", "uploaded")
        with self.db.transaction() as tx:
            tx.execute(
                f"INSERT INTO documents (doc_id, {', '.join(columns)}) VALUES ({','.join('?' * (len(columns) + 1))})"
                f" ON CONFLICT (doc_id) DO UPDATE SET {', '.join(f'{c} = excluded.{c}' for c in columns)}",
                (doc_id, title, level, *(str(meta.get(k) or "") for k in keys), file, units, _now()))

    def documents(self) -> list[dict]:
        return self._rows("SELECT * FROM documents ORDER BY uploaded DESC, title")

    def document(self, doc_id: str) -> dict | None:
        return self._one("SELECT * FROM documents WHERE doc_id = ?", doc_id)

    def unregister_document(self, doc_id: str) -> bool:
        return self._change("DELETE FROM documents WHERE doc_id = ?", doc_id)

    # ---- accounts and sessions (bot.loop.accounts holds the rules) -------------------------------
    def add_account(self, name: str, role: str, grids: list[int], salt: bytes, digest: bytes) -> bool:
        """False when the name is taken."""
        try:
            self._insert("INSERT INTO accounts (name, role, grids, salt, digest, created) VALUES (?,?,?,?,?,?)",
                         name, role, json.dumps(grids), salt, digest, _now())
        except self.db.IntegrityError:
            return False
        return True

    @staticmethod
    def _account(row) -> dict:
        return row | {"grids": json.loads(row["grids"] or "[]")}

    def account(self, name: str) -> dict | None:
        row = self._one("SELECT * FROM accounts WHERE name = ?", name)
        return self._account(row) if row else None

    def accounts(self) -> list[dict]:
        return [self._account(r) for r in self._rows("SELECT * FROM accounts ORDER BY role, name")]

    def update_account(self, name: str, **values) -> bool:
        """Change grids, salt + digest or active of one account; False when there is none."""
        allowed = {"grids", "salt", "digest", "active"}
        if not values or set(values) - allowed:
            raise ValueError(f"update_account: only {sorted(allowed)}")
        if "grids" in values:
            values["grids"] = json.dumps(values["grids"])
        cols = ", ".join(f"{k} = ?" for k in values)
        return self._change(f"UPDATE accounts SET {cols} WHERE name = ?", *values.values(), name)

    def add_session(self, token: str, name: str, role: str, grids, expires: float, now: float) -> None:
        """Store a login (by the hash of its token) and drop the logins that expired before `now`."""
        with self.db.transaction() as tx:
            tx.execute("DELETE FROM sessions WHERE expires <= ?", (now,))
            tx.execute("INSERT INTO sessions (token_hash, name, role, grids, expires) VALUES (?,?,?,?,?)",
                       (token_hash(token), name, role, json.dumps(sorted(grids)), expires))

    def session(self, token: str, now: float) -> dict | None:
        """The login of this token, unless it expired before `now`."""
        row = self._one("SELECT name, role, grids, expires FROM sessions WHERE token_hash = ? AND expires > ?",
                        token_hash(token), now)
        return row | {"grids": json.loads(row["grids"])} if row else None

    def drop_sessions(self, token: str | None = None, name: str | None = None) -> None:
        """Log out one token, or every login of one account."""
        where, value = ("token_hash", token_hash(token)) if name is None else ("name", name)
        self._change(f"DELETE FROM sessions WHERE {where} = ?", value)

    # ---- rate limits (bot.loop.tickets.Throttle holds the rule) ----------------------------------
    def recent_hits(self, bucket: str, client: str, now: float, limit: int, record: bool = True) -> list[float]:
        """The times of `client`'s calls in `bucket` during the minute before `now`, oldest first;
        this one is counted too when there were fewer than `limit` (and `record`). Reading and
        counting are one transaction with the client's row locked (SQLite's write lock, the
        upsert's row lock on PostgreSQL), so concurrent calls from any number of worker processes
        are each counted once and never all let through. Clients quiet for a minute are forgotten."""
        with self.db.transaction() as tx:
            row = tx.execute("INSERT INTO rate_limits (bucket, client, last) VALUES (?,?,?)"
                             " ON CONFLICT (bucket, client) DO UPDATE SET last = rate_limits.last RETURNING hits",
                             (bucket, client, now)).fetchone()
            recent = sorted(t for t in json.loads(row["hits"]) if now - t < 60)
            counted = recent + [now] if record and len(recent) < limit else recent
            tx.execute("UPDATE rate_limits SET hits = ?, last = ? WHERE bucket = ? AND client = ?",
                       (json.dumps(counted), max(counted, default=now), bucket, client))
        # outside that transaction: it holds one row lock and waits for no other, so no deadlock
        self._change("DELETE FROM rate_limits WHERE last < ?", now - 60)
        return recent

    # ---- tickets, replies, draft cards (bot.loop.tickets holds the rules) ------------------------
    def add_ticket(self, code: str, grid: int, question: str, conversation: list, answer: str = "",
                   sources: list | None = None, decision: str = "", reason: str = "asked", contact: str = "",
                   question_id: int | None = None) -> int | None:
        """The new ticket's id; None when the code is taken (the caller draws another)."""
        now = _now()
        try:
            return self._insert(
                "INSERT INTO tickets (code, created, updated, grid, question, topic, conversation, answer, sources,"
                " decision, reason, contact, question_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                code, now, now, grid, question, topic_of(question), json.dumps(conversation, ensure_ascii=False),
                answer, json.dumps(sources or [], ensure_ascii=False), decision, reason, contact, question_id)
        except self.db.IntegrityError as exc:
            if "code" in str(exc):
                return None
            raise

    @staticmethod
    def _ticket(row) -> dict:
        return row | {"conversation": json.loads(row["conversation"]), "sources": json.loads(row["sources"])}

    def ticket(self, ticket_id: int | None = None, code: str | None = None) -> dict | None:
        where, value = ("id", ticket_id) if code is None else ("code", code)
        row = self._one(f"SELECT * FROM tickets WHERE {where} = ?", value)
        return self._ticket(row) if row else None

    def tickets(self, grids: list[int] | None = None, statuses: list[str] | None = None, limit: int = 1000) -> list[dict]:
        """Oldest first; only those of `grids` / `statuses` when given."""
        sql, params = "SELECT * FROM tickets WHERE 1=1", []
        for col, values in (("grid", grids), ("status", statuses)):
            if values is not None:
                if not values:
                    return []
                sql += f" AND {col} IN ({','.join('?' * len(values))})"
                params += list(values)
        return [self._ticket(r) for r in self._rows(sql + " ORDER BY created, id LIMIT ?", *params, limit)]

    def add_reply(self, ticket_id: int, adviser: str, text: str, citations: list) -> int | None:
        """Store a reply and mark the ticket 已回复, in one transaction; None when it is closed."""
        now = _now()
        with self.db.transaction() as tx:
            if tx.execute("UPDATE tickets SET status = '已回复', updated = ? WHERE id = ? AND status != '已关闭'",
                          (now, ticket_id)).rowcount == 0:
                return None
            return tx.execute("INSERT INTO replies (ticket_id, adviser, created, text, citations) VALUES (?,?,?,?,?)"
                              " RETURNING id", (ticket_id, adviser, now, text,
                                                json.dumps(citations, ensure_ascii=False))).fetchone()["id"]

    def replies(self, ticket_id: int) -> list[dict]:
        return [r | {"citations": json.loads(r["citations"])}
                for r in self._rows("SELECT * FROM replies WHERE ticket_id = ? ORDER BY id", ticket_id)]

    def rate_ticket(self, ticket_id: int, rating: str, reason: str = "") -> bool:
        """Rate a replied ticket once (it is closed by it); False when not replied or already rated."""
        return self._change("UPDATE tickets SET rating = ?, rating_reason = ?, rated = ?, updated = ?, status = '已关闭'"
                            " WHERE id = ? AND status = '已回复' AND rating IS NULL",
                            rating, redact_log(reason)[:1000], _now(), _now(), ticket_id)

    def close_ticket(self, ticket_id: int) -> bool:
        return self._change("UPDATE tickets SET status = '已关闭', updated = ? WHERE id = ? AND status != '已关闭'",
                            _now(), ticket_id)

    def add_card(self, ticket_id: int | None, reply_id: int | None, author: str, fields: dict) -> int:
        now = _now()
        return self._insert("INSERT INTO cards (ticket_id, reply_id, author, created, updated, fields)"
                            " VALUES (?,?,?,?,?,?)", ticket_id, reply_id, author, now, now,
                            json.dumps(fields, ensure_ascii=False))

    @staticmethod
    def _card(row) -> dict:
        return row | {"fields": json.loads(row["fields"])}

    def card(self, card_id: int) -> dict | None:
        row = self._one("SELECT * FROM cards WHERE id = ?", card_id)
        return self._card(row) if row else None

    def cards(self, status: str | None = None, limit: int = 1000) -> list[dict]:
        sql = "SELECT * FROM cards" + (" WHERE status = ?" if status else "") + " ORDER BY id DESC LIMIT ?"
        return [self._card(r) for r in self._rows(sql, *((status,) if status else ()), limit)]

    def demand_rows(self) -> tuple[list[dict], list[dict]]:
        """What the demand list counts (bot.loop.demand): every question with its 差 votes, and every
        ticket with its first reply (time and adviser) — nothing personal."""
        questions = self._rows(
            "SELECT q.id, q.asked, q.topic, q.abstained, (SELECT COUNT(*) FROM feedback f WHERE f.question_id = q.id"
            " AND f.rating = 'bad') AS bad FROM questions q")
        tickets = self._rows(
            "SELECT t.id, t.created, t.topic, t.grid, t.reason, t.status, t.rating,"
            " (SELECT MIN(r.created) FROM replies r WHERE r.ticket_id = t.id) AS first_reply,"
            " (SELECT r.adviser FROM replies r WHERE r.ticket_id = t.id ORDER BY r.id LIMIT 1) AS adviser FROM tickets t")
        return questions, tickets

    def update_card(self, card_id: int, fields: dict) -> bool:
        """Change a draft's fields; False when it is no longer a draft."""
        return self._change("UPDATE cards SET fields = ?, updated = ? WHERE id = ? AND status = 'draft'",
                            json.dumps(fields, ensure_ascii=False), _now(), card_id)

    def review_card(self, card_id: int, status: str, reviewer: str, note: str = "", fields: dict | None = None,
                    **published) -> bool:
        """A draft published or rejected (once: False when it is no longer a draft)."""
        extra = {k: str(v) for k, v in published.items() if k in ("doc_id", "unit_id", "file")}
        if fields is not None:
            extra["fields"] = json.dumps(fields, ensure_ascii=False)
        cols = "".join(f", {k} = ?" for k in extra)
        return self._change(f"UPDATE cards SET status = ?, reviewer = ?, reviewed = ?, note = ?, updated = ?{cols}"
                            " WHERE id = ? AND status = 'draft'",
                            status, reviewer, _now(), note[:1000], _now(), *extra.values(), card_id)
