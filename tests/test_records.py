"""bot.records on SQLite and PostgreSQL (each test that takes `records` or `records_target` runs
on both): migrations, redaction of logged questions, persistence, concurrent writes from threads
and processes; SQLite's WAL; bot.dialects and the statement splitter of bot.migrations."""
from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

import pytest

from bot.records import MIGRATIONS, Records, redact_log, topic_of
from writers import run_threads, spawn



def test_migrations_create_the_schema_once(records, records_target, tmp_path):
    assert records.schema_version() == len(MIGRATIONS)
    again = Records(records_target, data_dir=tmp_path)  # reopening an up-to-date schema changes nothing
    assert again.schema_version() == len(MIGRATIONS)
    tables = {r["name"] for r in again._rows(
        "SELECT name FROM sqlite_master WHERE type = 'table'" if records.path else
        "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public'")}
    assert {"questions", "feedback", "documents", "accounts", "tickets", "sessions", "rate_limits"} <= tables
    again.close()


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(tmp_path):
    records = Records(tmp_path / "farun.sqlite")
    assert records.pragma("user_version") == len(MIGRATIONS)
    assert records.pragma("journal_mode") == "wal" and records.pragma("busy_timeout") >= 5000


def test_migrating_an_older_schema_keeps_going_from_its_version(records_target, tmp_path):
    from bot.database import Database

    old = Database(records_target)
    assert old.migrate(MIGRATIONS[:1]) == 1  # the schema of the first release
    with old.transaction() as tx:
        tx.execute("INSERT INTO questions (asked, audience, question, topic) VALUES (?,?,?,?)",
                   ("2026-01-01T00:00:00", "resident", "旧问题", "其他"))
    old.close()
    r = Records(records_target, data_dir=tmp_path)
    assert r.schema_version() == len(MIGRATIONS)
    assert [q["question"] for q in r.questions()] == ["旧问题"]


def test_questions_are_logged_redacted(records):
    qid = records.log_question("我叫张三，身份证110101199003071234，电话13812345678，公司拖欠工资怎么办", "resident")
    row = records.questions()[0]
    assert row["id"] == qid
    for secret in ("张三", "110101199003071234", "13812345678"):
        assert secret not in row["question"]
    assert "[身份证号]" in row["question"] and "[手机号]" in row["question"] and "[姓名]" in row["question"]
    assert row["topic"] == "劳动用工"


def test_redact_log_names_and_topics():
    assert redact_log("王先生问：姓名：李四") == "[姓名]先生问：姓名：[姓名]"
    assert topic_of("房东不退押金") == "房屋租赁"
    assert topic_of("今天天气") == "其他"


def test_feedback_and_demand_survive_a_restart(records_target, tmp_path):
    r = Records(records_target, data_dir=tmp_path)
    qid = r.log_question("网购退货商家不同意", "resident")
    fid = r.add_feedback(qid, "差", "没说清楚运费")
    r.set_reason(fid, "没说清楚运费谁出")
    r.add_feedback(qid, "bad", "还要自己去快递点")
    r.register_document("doc1", "某政策", "政策", 3, "a/b.docx", issuer="某局")
    r.register_document("doc1", "某政策（修订）", "政策", 4, "a/c.docx", issuer="某局")  # uploaded again: replaced
    r.close()
    again = Records(records_target, data_dir=tmp_path)
    assert again.feedback()[-1]["rating"] == "bad" and again.feedback()[-1]["reason"] == "没说清楚运费谁出"
    [unmet] = again.unmet()
    assert unmet["question"] == "网购退货商家不同意" and unmet["bad"] == 2
    assert set(unmet["reasons"].split("；")) == {"没说清楚运费谁出", "还要自己去快递点"}
    assert [(d["title"], d["units"]) for d in again.documents()] == [("某政策（修订）", 4)]
    csv = again.demand_csv()
    assert csv.splitlines()[0].startswith("主题,问题,次数") and "消费维权,网购退货商家不同意,1," in csv
    assert again.per_topic_day()[0]["topic"] == "消费维权" and again.most_asked()[0]["times"] == 1
    assert again.topic_counts() == {"消费维权": 1}
    assert again.unregister_document("doc1") and again.documents() == []


def test_bad_rating_is_refused(records):
    with pytest.raises(ValueError):
        records.add_feedback(None, "meh")


def test_concurrent_feedback_from_20_threads_and_4_processes_is_all_stored(records, records_target, tmp_path):
    qid = records.log_question("借钱不还怎么办")

    def work(n):
        for i in range(10):
            records.add_feedback(qid, "good" if (n + i) % 2 else "bad", f"线程{n}-{i}")

    procs = spawn(f"for i in range(25): records.add_feedback({qid}, 'good', f'进程{{i}}')\n", records_target, tmp_path, 4)
    errors = run_threads(work, 20)
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0, 0]
    assert not errors
    rows = records.feedback(limit=1000)
    assert len(rows) == 300 and len({r["id"] for r in rows}) == 300


def test_worker_processes_starting_together_migrate_once(records_target, tmp_path):
    """Several workers opening a new database at the same moment: each step runs once, none fails."""
    procs = spawn("print(records.schema_version())\n", records_target, tmp_path, 4,
                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, [e for _, e in outs]
    assert {o.strip() for o, _ in outs} == {str(len(MIGRATIONS))}


def test_one_migration_runner_steps_are_atomic(tmp_path):
    """bot.migrations (the store's and the records' runner): a failing step is rolled back with
    its version bump, the steps before it stay, and the next run starts from there."""
    from bot.migrations import migrate, version

    steps = ["CREATE TABLE a (x);", "CREATE TABLE b (x); INSERT INTO nowhere VALUES (1);", "CREATE TABLE c (x);"]
    con = sqlite3.connect(tmp_path / "m.sqlite")
    with pytest.raises(sqlite3.OperationalError):
        migrate(con, steps)
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert version(con) == 1 and tables == {"a"} and not con.in_transaction
    steps[1] = "CREATE TABLE b (x);"
    assert migrate(con, steps) == 3 == migrate(con, steps)


def test_a_failing_step_on_postgresql_is_rolled_back_too(postgres):
    import psycopg

    from bot.dialects import POSTGRES
    from bot.migrations import migrate, version

    con = psycopg.connect(postgres.new_database(), autocommit=True)
    steps = ["CREATE TABLE a (x {serial});", "CREATE TABLE b (x INTEGER); INSERT INTO nowhere VALUES (1);"]
    with pytest.raises(psycopg.errors.UndefinedTable):
        migrate(con, steps, POSTGRES)
    tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")}
    assert version(con, POSTGRES) == 1 and tables == {"a", "schema_version"}
    steps[1] = "CREATE TABLE b (x INTEGER);"
    assert migrate(con, steps, POSTGRES) == 2


def test_statements_split_at_the_semicolons_that_end_them():
    from bot.migrations import statements

    script = "CREATE TABLE t (a TEXT DEFAULT ';',  -- a comment; with a semicolon\n b INTEGER);\nINSERT INTO t VALUES ('x;y', 1);\n"
    assert [s.strip() for s in statements(script)] == [
        "CREATE TABLE t (a TEXT DEFAULT ';',  -- a comment; with a semicolon\n b INTEGER);",
        "INSERT INTO t VALUES ('x;y', 1);"]


def test_the_dialects_differ_only_where_they_must():
    from bot.dialects import POSTGRES, SQLITE

    query = "SELECT * FROM t WHERE a = ? AND b LIKE '%x' LIMIT ?"
    assert SQLITE.sql(query) == query
    assert POSTGRES.sql(query) == "SELECT * FROM t WHERE a = %s AND b LIKE '%%x' LIMIT %s"
    assert SQLITE.ddl("id {serial}, salt {blob}") == "id INTEGER PRIMARY KEY, salt BLOB"
    assert POSTGRES.ddl("id {serial}, salt {blob}") == "id INTEGER GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, salt BYTEA"
    assert "STRING_AGG" in POSTGRES.group_concat("r", "；") and "GROUP_CONCAT" in SQLITE.group_concat("r", "；")


def test_a_database_that_cannot_be_opened_says_why_without_the_password(postgres):
    from bot.database import DatabaseUnavailable

    wrong = f"postgresql://farun:s3cret-pass@127.0.0.1:{postgres.port}/no_such_database"
    with pytest.raises(DatabaseUnavailable) as exc:
        Records(wrong, data_dir=Path("/tmp"))
    assert "no_such_database" in str(exc.value) and "s3cret-pass" not in str(exc.value) and "***" in str(exc.value)
    with pytest.raises(DatabaseUnavailable, match="postgresql://"):
        Records("mysql://root:pw@localhost/farun", data_dir=Path("/tmp"))


def test_store_schema_upgrades_through_the_runner(tmp_path):
    """An index store of schema version 1 (before units.ends_as) is brought to the current one."""
    from bot.index.store import MIGRATIONS, UnitStore

    con = sqlite3.connect(tmp_path / "units.sqlite")
    con.executescript(MIGRATIONS[0] + "\nPRAGMA user_version = 1;")
    con.close()
    store = UnitStore(tmp_path / "units.sqlite")
    assert store.con.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert "ends_as" in {r[1] for r in store.con.execute("PRAGMA table_info(units)")}
