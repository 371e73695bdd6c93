"""bot.loop.accounts and grids: roles, hashed passwords without defaults, expiring sessions shared
by every worker process, the `python -m bot users` command, grid ranges and the grids file. The
accounts run on SQLite and on PostgreSQL (the `records` fixture)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.loop.accounts import AccountError, Accounts, grids_text, parse_grids
from bot.loop.grids import Grids, GridsError
from bot.records import Records

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "grid-adviser-pass-1"


@pytest.fixture()
def accounts(records):
    return Accounts(records)


def test_grid_ranges():
    assert parse_grids("1-5") == [1, 2, 3, 4, 5]
    assert parse_grids("3,1-2，8 8") == [1, 2, 3, 8]
    assert parse_grids([7, "2"]) == [2, 7]
    assert grids_text([1, 2, 3, 5, 7, 8]) == "1-3,5,7-8"
    for bad in ("0", "5-1", "a", "1-999999", "1-9000"):
        with pytest.raises(AccountError):
            parse_grids(bad)


def test_add_check_and_hash(accounts):
    a = accounts.add("zhang", "adviser", PASSWORD, "1-5")
    assert a == accounts.get("zhang") and a["grids"] == [1, 2, 3, 4, 5] and a["role"] == "adviser" and a["active"]
    assert accounts.check("zhang", PASSWORD)["grids"] == [1, 2, 3, 4, 5]
    assert accounts.check("zhang", PASSWORD + "x") is None and accounts.check("nobody", PASSWORD) is None
    assert accounts.check("zhang", None) is None and accounts.check(None, PASSWORD) is None
    row = accounts.records.account("zhang")
    assert PASSWORD not in repr(row)  # only salted scrypt hashes are kept
    assert len(row["salt"]) == 16 and len(row["digest"]) == 32


def test_the_sqlite_file_holds_no_password(tmp_path):
    accounts = Accounts(Records(tmp_path / "farun.sqlite"))
    session = accounts.add("zhang", "adviser", PASSWORD, "1-5") and accounts.login("zhang", PASSWORD)
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("farun.sqlite*"))
    assert PASSWORD.encode() not in raw and session.token.encode() not in raw  # sessions by the token's hash


@pytest.mark.parametrize("name, role, password, grids, message", [
    ("zhang", "adviser", "", "1-5", "没有设置密码"),
    ("zhang", "adviser", "password", "1-5", "常见密码"),
    ("zhang", "adviser", "zhang", "1-5", "常见密码"),
    ("zhang", "adviser", "short7!", "1-5", "至少需要"),
    ("zhang", "adviser", PASSWORD, "", "负责的网格"),
    ("zhang", "judge", PASSWORD, "1", "角色"),
    ("a", "adviser", PASSWORD, "1", "用户名"),
    ("<script>", "adviser", PASSWORD, "1", "用户名"),
])
def test_bad_accounts_are_refused(accounts, name, role, password, grids, message):
    with pytest.raises(AccountError, match=message):
        accounts.add(name, role, password, grids)
    assert accounts.list() == []


def test_duplicate_disable_and_grid_changes(accounts):
    accounts.add("li", "adviser", PASSWORD, "6-10")
    with pytest.raises(AccountError, match="已存在") as exc:
        accounts.add("li", "adviser", PASSWORD, "1")
    assert exc.value.status == 409
    session = accounts.login("li", PASSWORD)
    assert session.role == "adviser" and session.covers(6) and not session.covers(5)
    assert accounts.session(session.token) == session
    assert accounts.login("li", PASSWORD, role="admin") is None
    accounts.set_grids("li", "11-12")
    assert accounts.session(session.token) is None  # changed grids end the old sessions
    assert accounts.covering(11) == ["li"] and accounts.covering(6) == []
    accounts.set_active("li", False)
    assert accounts.login("li", PASSWORD) is None and accounts.covering(11) == []
    accounts.set_active("li", True)
    accounts.set_password("li", "another-pass-2")
    assert accounts.login("li", PASSWORD) is None and accounts.login("li", "another-pass-2")
    with pytest.raises(AccountError):
        accounts.set_active("nobody", False)


def test_sessions_expire_and_log_out(accounts, monkeypatch):
    import bot.loop.accounts as module

    clock = [1_800_000_000.0]
    monkeypatch.setattr(module.time, "time", lambda: clock[0])
    monkeypatch.setenv("FARUN_ADMIN_SESSION_MINUTES", "10")
    accounts.add("wang", "admin", PASSWORD)
    s = accounts.login("wang", PASSWORD)
    assert s.is_admin and s.covers(999)
    clock[0] += 9 * 60
    assert accounts.session(s.token)
    clock[0] += 2 * 60
    assert accounts.session(s.token) is None
    s = accounts.login("wang", PASSWORD)
    accounts.logout(s.token)
    assert accounts.session(s.token) is None and accounts.session("forged") is None


def test_a_login_holds_on_every_worker(records_target, tmp_path):
    """Two Accounts over one database are two worker processes: a login made on one is valid on the
    other, and logging out, a changed password or a disabled account ends it on both."""
    first, second = (Accounts(Records(records_target, data_dir=tmp_path)) for _ in range(2))
    first.add("zhao", "adviser", PASSWORD, "1-3")
    s = first.login("zhao", PASSWORD)
    assert second.session(s.token) == s and second.session(s.token).covers(2)
    second.logout(s.token)
    assert first.session(s.token) is None
    s = second.login("zhao", PASSWORD)
    first.set_password("zhao", "another-pass-3")
    assert second.session(s.token) is None
    s = second.login("zhao", "another-pass-3")
    first.set_active("zhao", False)
    assert second.session(s.token) is None


def test_the_configured_admin_logs_in_through_accounts(tmp_path):
    from bot.admin import AdminAuth

    accounts = Accounts(Records(tmp_path / "r.sqlite"), AdminAuth.from_credentials("root", PASSWORD))
    assert accounts.any_admin() and accounts.login("root", PASSWORD).is_admin
    with pytest.raises(AccountError, match="FARUN_ADMIN_USER"):
        accounts.add("root", "adviser", "other-pass-77", "1")
    off = Accounts(Records(tmp_path / "r2.sqlite"), AdminAuth.from_credentials("root", "admin"))
    assert not off.any_admin() and off.login("root", "admin") is None
    off.add("boss", "admin", PASSWORD)
    assert off.any_admin()


def _cli(tmp_path, *args, password=None, stdin=None, env=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("FARUN_")} | {"FARUN_DATA_DIR": str(tmp_path)} | (env or {})
    if password:
        env["FARUN_NEW_PASSWORD"] = password
    return subprocess.run([sys.executable, "-m", "bot", "users", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120, stdin=stdin or subprocess.DEVNULL)


def test_users_command(tmp_path):
    r = _cli(tmp_path, "add", "zhao", "--role", "adviser", "--grids", "1-5")
    assert r.returncode == 2 and "需要密码" in r.stderr  # no terminal, no password given: nothing is made up
    pw = tmp_path / "pw.txt"
    pw.write_text(PASSWORD + "\n", encoding="utf-8")
    r = _cli(tmp_path, "add", "zhao", "--role", "adviser", "--grids", "1-5", "--password-file", str(pw))
    assert r.returncode == 0 and "zhao  adviser  网格 1-5" in r.stdout, r.stderr
    r = _cli(tmp_path, "add", "qian", "--role", "admin", password="admin")
    assert r.returncode == 2 and "常见密码" in r.stderr
    assert _cli(tmp_path, "add", "qian", "--role", "admin", password="qian-admin-pass").returncode == 0
    assert _cli(tmp_path, "disable", "zhao").returncode == 0
    r = _cli(tmp_path, "list")
    assert "zhao  adviser  网格 1-5  （已停用）" in r.stdout and "qian  admin" in r.stdout
    assert _cli(tmp_path, "grids", "zhao", "7,9-10").returncode == 0
    accounts = Accounts(Records(tmp_path / "farun.sqlite"))
    assert accounts.get("zhao")["grids"] == [7, 9, 10] and accounts.check("zhao", PASSWORD) is None  # disabled
    assert _cli(tmp_path, "enable", "zhao").returncode == 0 and accounts.check("zhao", PASSWORD)
    assert _cli(tmp_path, "disable", "nobody").returncode == 2


def test_users_command_on_postgresql(postgres, tmp_path):
    url = postgres.new_database()
    env = {"FARUN_DATABASE_URL": url}
    r = _cli(tmp_path, "add", "sun", "--role", "adviser", "--grids", "2", password=PASSWORD, env=env)
    assert r.returncode == 0 and "sun  adviser  网格 2" in r.stdout, r.stderr
    assert Accounts(Records(url, data_dir=tmp_path)).check("sun", PASSWORD)["grids"] == [2]
    gone = url.rsplit("/", 1)[0].replace("farun@", "farun:pw-not-shown@") + "/no_such_database"
    r = _cli(tmp_path, "list", env={"FARUN_DATABASE_URL": gone})
    assert r.returncode == 2 and "无法连接记录数据库" in r.stderr and "pw-not-shown" not in r.stderr
    assert "Traceback" not in r.stderr


def test_grids_file(tmp_path):
    grids = Grids.load(ROOT / "docs" / "grids.example.yaml")
    assert len(grids) == 15 and grids.label(3) == "青禾社区 · 第3网格" and grids.label(11) == "南山社区第一网格"
    assert 15 in grids and 16 not in grids and grids.choices()[0] == ("青禾社区 · 第1网格", 1)
    bad = tmp_path / "g.yaml"
    for text, message in [("communities: [{name: A, grids: 1-3}, {name: B, grids: 3}]", "重复"),
                          ("communities: [{grids: 1}]", "name"), ("district: x", "communities"),
                          ("communities: [{name: A, grids: x}]", "无效"), ("{", "YAML")]:
        bad.write_text(text, encoding="utf-8")
        with pytest.raises(GridsError, match=message):
            Grids.load(bad)
    with pytest.raises(GridsError, match="读不到"):
        Grids.load(tmp_path / "missing.yaml")
    assert Grids.from_advisers([3, 1, 3]).choices() == [("第1网格", 1), ("第3网格", 3)]
