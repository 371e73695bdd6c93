"""What the browser tests share: the real app (python app.py) started in a subprocess on a free
port over a given index, and where Debian's Chromium is."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "test-output"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
NEEDS_CHROMIUM = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (apt-get install chromium)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def app_server(index: Path, data: Path, laws_db: Path, admin_password: str, **env):
    """The app serving `index` with records in `data`; yields its URL, stops it afterwards."""
    port = _free_port()
    env = os.environ | {"FARUN_INDEX_DIR": str(index), "FARUN_LAWS_DB": str(laws_db), "FARUN_TODAY": "2026-11-29",
                        "FARUN_KNOWLEDGE_DIR": str(ROOT / "knowledge"), "FARUN_DATA_DIR": str(data),
                        "FARUN_ADMIN_USER": "admin", "FARUN_ADMIN_PASSWORD": admin_password, "FARUN_RATE_LIMIT": "0",
                        "GRADIO_ANALYTICS_ENABLED": "False"} | env
    log = (data / "app.log").open("w")
    proc = subprocess.Popen([sys.executable, "app.py", "--host", "127.0.0.1", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            if proc.poll() is not None:
                pytest.fail(f"app.py exited: {(data / 'app.log').read_text()}")
            try:
                if httpx.get(f"{url}/api/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        else:
            pytest.fail(f"app.py did not start: {(data / 'app.log').read_text()}")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
