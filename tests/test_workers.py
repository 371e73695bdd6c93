"""`python app.py --workers 2`: two uvicorn worker processes on one port over one index and one
records database (SQLite and PostgreSQL). Every request goes on a new connection, which the kernel
hands to either worker: a login holds on all of them, the rate limit counts them all together, and
a document uploaded through one is found by every search after it. Slow (the app loads the model
in each process): `make test-slow`."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "workers-admin-pass-1"
NOTICE = "青禾市关于发放萤火虫创业补贴的通知\n\n一、补贴对象\n首次创业的小微企业可申请萤火虫创业补贴，每户五千元。\n"
pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def two_workers(small_settings, embedder, records_target, tmp_path):
    import httpx

    from bot.index.builder import build

    build(small_settings, progress=False, embedder=embedder)
    port = _free_port()
    env = os.environ | {"FARUN_INDEX_DIR": str(small_settings.index_dir), "FARUN_LAWS_DB": str(small_settings.laws_db),
                        "FARUN_KNOWLEDGE_DIR": str(small_settings.knowledge_dir),
                        "FARUN_TODAY": small_settings.today.isoformat(), "FARUN_DATA_DIR": str(tmp_path / "var"),
                        "FARUN_DATABASE_URL": "" if isinstance(records_target, Path) else records_target,
                        "FARUN_ADMIN_PASSWORD": PASSWORD, "FARUN_RATE_LIMIT": "30", "FARUN_LLM_MODEL": ""}
    server = subprocess.Popen([sys.executable, "app.py", "--workers", "2", "--port", str(port)], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and server.poll() is None:
            try:
                if httpx.get(f"{url}/api/health", timeout=5, trust_env=False).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(1)
        assert server.poll() is None, server.stdout.read()
        yield url, server.pid
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)


def _fresh(url: str, method: str, path: str, **kw):
    """One request on a new connection: the kernel hands it to either worker."""
    import httpx

    with httpx.Client(base_url=url, timeout=60, trust_env=False) as c:
        return c.request(method, path, **kw)


def test_logins_limits_and_uploads_hold_across_two_workers(two_workers, tmp_path):
    url, supervisor = two_workers
    children = subprocess.run(["pgrep", "-P", str(supervisor)], capture_output=True, text=True).stdout.split()
    commands = [Path(f"/proc/{pid}/cmdline").read_bytes() for pid in children]
    assert sum(b"resource_tracker" not in c for c in commands) == 2  # beside multiprocessing's tracker

    token = _fresh(url, "POST", "/api/adviser/login", json={"name": "admin", "password": PASSWORD}).json()["token"]
    bearer = {"Authorization": f"Bearer {token}"}
    assert {_fresh(url, "GET", "/api/adviser/tickets", headers=bearer).status_code for _ in range(8)} == {200}

    notice = tmp_path / "notice.txt"
    notice.write_text(NOTICE, encoding="utf-8")
    with notice.open("rb") as f:
        r = _fresh(url, "POST", "/api/admin/documents", headers=bearer, files={"file": ("notice.txt", f, "text/plain")},
                   data={"level": "政策"})
    assert r.status_code == 201, r.text
    found = [_fresh(url, "GET", "/api/search", params={"q": "萤火虫创业补贴", "level": "政策"}).json() for _ in range(6)]
    assert all(any("萤火虫" in h["text"] for h in hits) for hits in found)

    # 30 limited requests a minute per client, whichever worker counts them: 1 login + 6 searches so far
    codes = [_fresh(url, "GET", "/api/search", params={"q": "劳动合同"}).status_code for _ in range(30)]
    assert codes[:23] == [200] * 23 and set(codes[23:]) == {429}
