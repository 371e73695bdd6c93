"""Access: every admin route needs the (hashed, never default) admin credentials; web sessions
expire; uploads are judged by content, not extension; ask/feedback are rate-limited per client
with a clear 429; questions, feedback, analytics and logs never hold a raw ID-card or mobile number."""
from __future__ import annotations

import logging
import random

import pytest
from fastapi.testclient import TestClient


PASSWORD = "access-admin-pass-3"


def id_number(rng: random.Random) -> str:
    """A valid-format 18-digit resident ID number (GB 11643) with the correct check digit."""
    area = rng.choice(["110101", "310104", "440305", "370102", "510107"])
    birth = f"{rng.randint(1950, 2005)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    body = area + birth + f"{rng.randint(0, 999):03d}"
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, weights)) % 11]


def mobile(rng: random.Random) -> str:
    return f"1{rng.choice('3456789')}{rng.randint(0, 999_999_999):09d}"


def test_id_numbers_have_the_right_check_digit():
    assert id_number(random.Random(1))[-1] in "0123456789X" and len(id_number(random.Random(1))) == 18
    n = "11010519491231002X"  # the standard's own example
    body = n[:17]
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    assert "10X98765432"[sum(int(d) * w for d, w in zip(body, weights)) % 11] == "X"


@pytest.fixture(scope="module")
def service(make_service):
    return make_service("acc", PASSWORD)


@pytest.fixture(scope="module")
def client(service):
    from bot.api import create_app

    return TestClient(create_app(service=service, rate_limit=0))


# ---- authentication ----------------------------------------------------------------------------------
def test_every_admin_route_needs_auth(client):
    routes = [(m.lower(), r.path.replace("{doc_id}", "x")) for r in client.app.routes
              if getattr(r, "path", "").startswith("/api/admin") for m in r.methods]
    assert len(routes) >= 5
    for method, path in routes:
        for auth in (None, ("admin", "wrong-password"), ("root", PASSWORD), ("admin", ""), ("", "")):
            r = client.request(method.upper(), path, auth=auth)
            assert r.status_code == 401, (method, path, auth)
            assert r.json()["error"] == "unauthorized" and r.headers["WWW-Authenticate"].startswith("Basic")


def test_credentials_are_hashed_and_never_default():
    from bot.admin import AdminAuth

    auth = AdminAuth.from_credentials("admin", PASSWORD)
    assert auth.enabled and PASSWORD.encode() not in repr(vars(auth)).encode() and PASSWORD not in repr(auth)
    assert len(auth.salt) == 16 and len(auth.digest) == 32
    assert AdminAuth.from_credentials("admin", PASSWORD).digest != auth.digest  # salted
    assert not AdminAuth.from_env({}).enabled and "FARUN_ADMIN_PASSWORD" in AdminAuth.from_env({}).reason
    for weak in ("admin", "password", "123456", "changeme", "short1", "Admin"):
        assert not AdminAuth.from_credentials("admin", weak).enabled
    assert not AdminAuth.from_credentials("zhangsan1", "zhangsan1").enabled
    assert not auth.check("admin", PASSWORD + " ") and not auth.check(None, PASSWORD) and auth.check("admin", PASSWORD)


def test_admin_disabled_means_503_for_everyone(service):
    from bot.admin import AdminAuth, Service
    from bot.api import create_app

    off = Service(service.settings, service.pipeline, service.records, AdminAuth.from_env({}))
    c = TestClient(create_app(service=off, rate_limit=0))
    for auth in (None, ("admin", ""), ("admin", "admin")):
        assert c.get("/api/admin/documents", auth=auth).status_code == 503


def test_sessions_expire(monkeypatch, tmp_path):
    """The configured admin's logins are those of every account (bot.loop.accounts): they expire."""
    import bot.loop.accounts as accounts
    from bot.admin import AdminAuth
    from bot.records import Records

    clock = [1_800_000_000.0]
    monkeypatch.setattr(accounts.time, "time", lambda: clock[0])
    monkeypatch.setenv("FARUN_ADMIN_SESSION_MINUTES", "30")
    logins = accounts.Accounts(Records(tmp_path / "farun.sqlite"), AdminAuth.from_credentials("admin", PASSWORD))
    assert logins.login("admin", "wrong") is None
    token = logins.login("admin", PASSWORD).token
    assert logins.session(token) and not logins.session("forged") and not logins.session(None)
    clock[0] += 29 * 60
    assert logins.session(token)
    clock[0] += 2 * 60
    assert not logins.session(token)
    token = logins.login("admin", PASSWORD).token
    logins.logout(token)
    assert not logins.session(token)


# ---- uploads by content ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name, data", [
    ("policy.pdf", "第一条 这其实是文本。".encode()),
    ("policy.docx", "第一条 这其实是文本。".encode()),
    ("policy.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))),
    ("policy.md", b"MZ\x90\x00\x03\x00\x00\x00" + bytes(200)),
    ("policy.zip", "不是压缩包".encode()),
    ("policy.html", b"\x7fELF\x02\x01\x01" + bytes(300)),
])
def test_uploads_are_checked_by_content(client, service, name, data):
    r = client.post("/api/admin/documents", files={"file": (name, data)}, auth=("admin", PASSWORD))
    assert r.status_code == 400 and r.json()["error"] == "bad_document" and r.json()["message"]
    assert service.records.documents() == []


# ---- rate limits -------------------------------------------------------------------------------------------
def test_rate_limit_is_per_client_on_ask_and_feedback(service):
    from bot.api import create_app

    app = create_app(service=service, rate_limit=3)
    a, b = TestClient(app, client=("10.0.0.1", 1111)), TestClient(app, client=("10.0.0.2", 2222))
    codes = [a.post("/api/ask", json={"question": "试用期工资"}).status_code for _ in range(3)]
    r = a.post("/api/feedback", json={"rating": "good"})
    assert codes == [200, 200, 200] and r.status_code == 429
    body = r.json()
    assert body["error"] == "rate_limited" and "每分钟最多 3 次" in body["message"]
    assert 1 <= int(r.headers["Retry-After"]) <= 61
    assert a.post("/api/ask", json={"question": "试用期工资"}).status_code == 429
    assert b.post("/api/feedback", json={"rating": "good"}).status_code == 201  # another client is not affected
    assert b.post("/api/ask", json={"question": "试用期工资"}).status_code == 200


# ---- personal numbers ----------------------------------------------------------------------------------------
def test_logs_and_analytics_hold_no_raw_personal_numbers(client, service, caplog):
    caplog.set_level(logging.DEBUG)
    rng = random.Random(20261129)
    numbers = []
    for i in range(20):
        idn, tel = id_number(rng), mobile(rng)
        if i % 4 == 1:
            idn = idn[:-1] + "x" if idn.endswith("X") else idn
        spaced = f"{tel[:3]} {tel[3:7]} {tel[7:]}" if i % 3 == 0 else f"+86-{tel}" if i % 3 == 1 else tel
        numbers += [idn, tel]
        q = f"我叫王小明，身份证号{idn}，手机{spaced}，公司试用期不给我交社保怎么办？"
        r = client.post("/api/ask", json={"question": q, "history": [(f"我的电话是{tel}", "好的")]})
        assert r.status_code == 200 and idn not in r.text and tel not in r.text
        qid = int(r.headers["X-Question-Id"])
        assert client.post("/api/feedback", json={"question_id": qid, "rating": "差",
                                                  "reason": f"请打我电话{tel}或查身份证{idn}"}).status_code == 201
    auth = ("admin", PASSWORD)
    seen = "".join(client.get(p, auth=auth).text for p in ("/api/admin/analytics", "/api/admin/demand.csv"))
    seen += caplog.text + repr(service.records.questions()) + repr(service.records.feedback())
    raw = b"".join(p.read_bytes() for p in service.records.path.parent.glob("farun.sqlite*"))
    for n in numbers:
        assert n not in seen and n.encode() not in raw, n
    assert "[身份证号]" in seen and "[手机号]" in seen
