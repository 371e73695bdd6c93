"""Faults: a build or an upload SIGKILLed at random moments leaves the previous index serving, the
upload registry and the index agree after a restart (repaired by Service.restore_uploads), and the
work can be redone; 20 threads (and 4 processes) writing feedback lose no row; a damaged or
missing index is a 503 JSON from the API and exit code 2 with a message from the CLI.

Kill points: FARUN_FAULT_KILLS (default 2 per scenario; the `slow` variant uses 10)."""
from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import pytest


ROOT = Path(__file__).resolve().parents[1]
KILLS = int(os.environ.get("FARUN_FAULT_KILLS", "2"))
NOTICE = "青禾市关于发放萤火虫创业补贴的通知\n\n一、补贴对象\n首次创业的小微企业可申请萤火虫创业补贴，每户五千元。\n"

UPLOAD_SCRIPT = """
import sys
from pathlib import Path
from bot.admin import AdminAuth, Service
from bot.config import Settings
from bot.records import Records
svc = Service(Settings.load(), records=Records(Path(sys.argv[1])), auth=AdminAuth.from_credentials("admin", ""), llm=None)
print("ready", flush=True)
svc.upload(Path(sys.argv[2]), "notice.txt", {"level": "政策"})
print("done", flush=True)
"""


def _env(settings) -> dict:
    return os.environ | {"FARUN_INDEX_DIR": str(settings.index_dir), "FARUN_LAWS_DB": str(settings.laws_db),
                         "FARUN_KNOWLEDGE_DIR": str(settings.knowledge_dir), "FARUN_TODAY": settings.today.isoformat(),
                         "FARUN_LLM_MODEL": "", "PYTHONPATH": str(ROOT)}


def _kill_after(proc: subprocess.Popen, delay: float) -> None:
    time.sleep(delay)
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)


@pytest.fixture()
def index(small_settings, embedder):
    from bot.index.builder import build

    build(small_settings, progress=False, embedder=embedder)
    return small_settings


def _manifest(settings):
    from bot.index import layout

    return layout.Manifest.load(layout.current(settings.index_dir))


# ---- index rebuild killed -------------------------------------------------------------------------
def _killed_builds(index, embedder, kills: int, rng: random.Random) -> None:
    from bot.retrieval.search import KnowledgeBase

    before = _manifest(index)
    cmd = [sys.executable, "-m", "bot", "--index-dir", str(index.index_dir), "build", "--quiet"]
    for _ in range(kills):
        proc = subprocess.Popen(cmd, cwd=ROOT, env=_env(index), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _kill_after(proc, rng.uniform(0.2, 6.0))  # a full build of the small laws.db takes about 6 s here
        now = _manifest(index)
        assert now.fingerprint == before.fingerprint and now.units == before.units  # the old index, or a complete new one
        kb = KnowledgeBase.open(index, embedder=embedder)
        assert kb.search("试用期工资", k=3)
    done = subprocess.run(cmd, cwd=ROOT, env=_env(index), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert _manifest(index).fingerprint == before.fingerprint
    # the redone build swept away whatever the killed ones left half-written
    assert len(list((index.index_dir / "builds").iterdir())) == 1


def test_killed_rebuild_leaves_the_previous_index(index, embedder):
    _killed_builds(index, embedder, KILLS, random.Random(7))


@pytest.mark.slow
def test_killed_rebuild_many_times(index, embedder):
    _killed_builds(index, embedder, 10, random.Random())


# ---- upload killed --------------------------------------------------------------------------------
def _service(settings, embedder, db: Path):
    from bot.admin import AdminAuth, Service
    from bot.answer.pipeline import AnswerPipeline
    from bot.records import Records
    from bot.retrieval.search import KnowledgeBase

    return Service(settings, AnswerPipeline(KnowledgeBase.open(settings, embedder=embedder)), Records(db),
                   AdminAuth.from_credentials("admin", ""), llm=None)


def _agree(svc) -> set[str]:
    """The registry, the index and the saved files name the same uploads."""
    registered = {d["doc_id"] for d in svc.records.documents()}
    indexed = {r[0] for r in svc.kb.store.con.execute("SELECT DISTINCT doc_id FROM units WHERE source LIKE 'upload:%'")}
    assert registered == indexed
    saved = {str(p.relative_to(svc.uploads)) for p in svc.uploads.rglob("*") if p.is_file()} if svc.uploads.is_dir() else set()
    assert saved == {d["file"] for d in svc.records.documents()}
    return registered


def _killed_uploads(index, embedder, tmp_path, kills: int, rng: random.Random) -> None:
    db, notice = tmp_path / "var" / "farun.sqlite", tmp_path / "notice.txt"
    notice.write_text(NOTICE, encoding="utf-8")
    db.parent.mkdir()
    fingerprints = {_manifest(index).fingerprint}
    for _ in range(kills):
        svc = _service(index, embedder, db)
        for d in svc.records.documents():  # start each round without the document
            svc.remove(d["doc_id"])
        proc = subprocess.Popen([sys.executable, "-c", UPLOAD_SCRIPT, str(db), str(notice)], cwd=ROOT, env=_env(index),
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert proc.stdout.readline().strip() == "ready"
        _kill_after(proc, rng.uniform(0.0, 1.0))
        # restart: the index opens, and the registry and the index are made to agree
        svc = _service(index, embedder, db)
        assert _manifest(index).fingerprint not in ("",)
        svc.restore_uploads()
        _agree(svc)
        # the interrupted work can be redone
        [doc] = svc.upload(notice, "notice.txt", {"level": "政策"})
        assert _agree(svc) == {doc.doc_id}
        fingerprints.add(_manifest(index).fingerprint)
    assert len(fingerprints) == 2  # without and with the document: nothing else ever served


def test_killed_upload_is_repaired_on_start(index, embedder, tmp_path):
    _killed_uploads(index, embedder, tmp_path, KILLS, random.Random(11))


@pytest.mark.slow
def test_killed_upload_many_times(index, embedder, tmp_path):
    _killed_uploads(index, embedder, tmp_path, 10, random.Random())


def test_index_ahead_of_the_registry_is_repaired(index, embedder, tmp_path):
    """The one window a kill can leave inconsistent: the index swapped in, the registry not yet
    written. restore_uploads (run on start by app.py) takes the unregistered document out."""
    from bot.admin import parse_file
    from bot.index.builder import update

    svc = _service(index, embedder, tmp_path / "farun.sqlite")
    f = tmp_path / "notice.txt"
    f.write_text(NOTICE, encoding="utf-8")
    units = parse_file(f, {"level": "政策"}, 1 << 20)
    update(index, add=units, embedder=embedder)  # … and the process dies here
    svc.reload()
    assert svc.doc_units(units[0].doc_id) and not svc.records.documents()
    assert svc.restore_uploads() == 0
    assert not svc.doc_units(units[0].doc_id)
    _agree(svc)


def test_files_of_an_unregistered_upload_are_deleted_on_start(index, embedder, tmp_path):
    """A kill after the file was saved and before the index changed leaves only the file."""
    svc = _service(index, embedder, tmp_path / "farun.sqlite")
    f = tmp_path / "notice.txt"
    f.write_text(NOTICE, encoding="utf-8")
    [doc] = svc.upload(f, "notice.txt", {"level": "政策"})
    stray = svc.uploads / "20261129-000000-abcdef" / "notice.txt"
    stray.parent.mkdir()
    stray.write_text(NOTICE, encoding="utf-8")
    assert svc.restore_uploads() == 0
    assert not stray.parent.exists() and (svc.uploads / doc.file).exists()
    assert _agree(svc) == {doc.doc_id}
    svc.remove(doc.doc_id)
    assert not any(svc.uploads.iterdir())


# ---- concurrent feedback --------------------------------------------------------------------------
def _write_feedback(args) -> int:
    from bot.records import Records

    path, qid, n = args
    r = Records(Path(path))
    for i in range(n):
        r.add_feedback(qid, "good" if i % 2 else "bad", f"进程 {os.getpid()} 第 {i} 条")
    return n


def test_concurrent_feedback_keeps_every_row(tmp_path):
    from bot.records import Records

    records = Records(tmp_path / "farun.sqlite")
    qid = records.log_question("公司拖欠工资怎么办")
    barrier = threading.Barrier(20)

    def worker(t: int) -> list[int]:
        barrier.wait()
        return [records.add_feedback(qid, "good", f"线程 {t} 第 {i} 条") for i in range(50)]

    with ThreadPoolExecutor(20) as pool:
        ids = [i for chunk in pool.map(worker, range(20)) for i in chunk]
    with ProcessPoolExecutor(4) as pool:
        assert sum(pool.map(_write_feedback, [(str(records.path), qid, 50)] * 4)) == 200
    rows = records.feedback(limit=10_000)
    assert len(ids) == len(set(ids)) == 1000 and len(rows) == 1200
    assert {f"线程 {t} 第 {i} 条" for t in range(20) for i in range(50)} <= {r["reason"] for r in rows}
    assert records.pragma("journal_mode") == "wal"


# ---- damaged or missing index ----------------------------------------------------------------------
def _damage(settings, how: str) -> None:
    from bot.index import layout

    folder = layout.current(settings.index_dir)
    if how == "manifest":
        (folder / layout.MANIFEST).write_text("{not json", encoding="utf-8")
    elif how == "dense":
        f = folder / "dense.faiss"
        f.write_bytes(f.read_bytes()[:100])
    elif how == "store":
        (folder / layout.STORE).write_bytes(b"this is not a database" * 100)
    elif how == "bm25":
        for p in folder.iterdir():
            if p.name.startswith("bm25"):
                shutil.rmtree(p) if p.is_dir() else p.unlink()
    elif how == "no-current":
        (settings.index_dir / "current").unlink()
    elif how == "dangling":
        shutil.rmtree(folder)


@pytest.mark.parametrize("how", ["manifest", "dense", "store", "bm25", "no-current", "dangling"])
def test_damaged_index_is_a_clear_message(index, how, tmp_path, capsys):
    from fastapi.testclient import TestClient

    from bot.admin import AdminAuth, Service
    from bot.api import create_app
    from bot.cli import main
    from bot.records import Records

    assert any((layout_folder := _manifest_folder(index)).iterdir())
    _damage(index, how)
    svc = Service(index, records=Records(tmp_path / "r.sqlite"), auth=AdminAuth.from_credentials("admin", ""), llm=None)
    assert not svc.ready and "python -m bot build" in svc.error
    c = TestClient(create_app(service=svc, rate_limit=0))
    for r in (c.post("/api/ask", json={"question": "试用期工资"}), c.get("/api/search", params={"q": "工资"}),
              c.get("/api/health")):
        assert r.status_code == 503 and r.json()["error"] == "index_unavailable"
        assert "python -m bot build" in r.json()["message"]
    capsys.readouterr()
    assert main(["--index-dir", str(index.index_dir), "stats"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("错误：") and "python -m bot build" in err and "Traceback" not in err
    del layout_folder


def _manifest_folder(settings):
    from bot.index import layout

    return layout.current(settings.index_dir)


def test_cli_without_an_index_exits_2(tmp_path):
    r = subprocess.run([sys.executable, "-m", "bot", "--index-dir", str(tmp_path / "none"), "search", "工资"],
                       cwd=ROOT, capture_output=True, text=True, timeout=60, env=os.environ | {"PYTHONPATH": str(ROOT)})
    assert r.returncode == 2 and "python -m bot build" in r.stderr and "Traceback" not in r.stderr
