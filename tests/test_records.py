"""bot.records: migrations, WAL, redaction of logged questions, persistence, concurrent writes."""
from __future__ import annotations

import sqlite3
import threading

import pytest

from bot.records import MIGRATIONS, Records, redact_log, topic_of


@pytest.fixture()
def records(tmp_path):
    r = Records(tmp_path / "farun.sqlite")
    yield r
    r.close()


def test_migrations_wal_and_timeout(records):
    assert records.pragma("user_version") == len(MIGRATIONS)
    assert records.pragma("journal_mode") == "wal"
    assert records.pragma("busy_timeout") >= 5000
    again = Records(records.path)  # reopening an up-to-date file changes nothing
    assert again.pragma("user_version") == len(MIGRATIONS)
    tables = {r[0] for r in sqlite3.connect(records.path).execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"questions", "feedback", "documents"} <= tables


def test_migrating_an_older_file_keeps_going_from_its_version(tmp_path):
    path = tmp_path / "old.sqlite"
    con = sqlite3.connect(path)
    con.executescript(MIGRATIONS[0])
    con.execute("INSERT INTO questions (asked, audience, question, topic) VALUES ('2026-01-01T00:00:00', 'resident', '旧问题', '其他')")
    con.execute("PRAGMA user_version = 1")
    con.commit()
    con.close()
    r = Records(path)
    assert r.pragma("user_version") == len(MIGRATIONS)
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


def test_feedback_and_demand_survive_a_restart(tmp_path):
    r = Records(tmp_path / "farun.sqlite")
    qid = r.log_question("网购退货商家不同意", "resident")
    fid = r.add_feedback(qid, "差", "没说清楚运费")
    r.set_reason(fid, "没说清楚运费谁出")
    r.register_document("doc1", "某政策", "政策", 3, "a/b.docx", issuer="某局")
    r.close()
    again = Records(tmp_path / "farun.sqlite")
    assert again.feedback()[0]["rating"] == "bad" and again.feedback()[0]["reason"] == "没说清楚运费谁出"
    assert again.unmet()[0]["question"] == "网购退货商家不同意"
    assert again.document("doc1")["issuer"] == "某局"
    csv = again.demand_csv()
    assert csv.splitlines()[0].startswith("主题,问题,次数") and "网购退货商家不同意" in csv
    assert again.per_topic_day()[0]["topic"] == "消费维权"
    assert again.unregister_document("doc1") and again.documents() == []


def test_bad_rating_is_refused(records):
    with pytest.raises(ValueError):
        records.add_feedback(None, "meh")


def test_concurrent_feedback_from_20_threads_is_all_stored(records):
    qid = records.log_question("借钱不还怎么办")
    errors = []

    def work(n):
        try:
            for i in range(10):
                records.add_feedback(qid, "good" if (n + i) % 2 else "bad", f"线程{n}-{i}")
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(records.feedback(limit=1000)) == 200


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


def test_store_schema_upgrades_through_the_runner(tmp_path):
    """An index store of schema version 1 (before units.ends_as) is brought to the current one."""
    from bot.index.store import MIGRATIONS, UnitStore

    con = sqlite3.connect(tmp_path / "units.sqlite")
    con.executescript(MIGRATIONS[0] + "\nPRAGMA user_version = 1;")
    con.close()
    store = UnitStore(tmp_path / "units.sqlite")
    assert store.con.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert "ends_as" in {r[1] for r in store.con.execute("PRAGMA table_info(units)")}
