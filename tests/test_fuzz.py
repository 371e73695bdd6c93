"""Bad input, fuzzed: the public API (/api/ask, /api/search, /api/article, /api/feedback), the
upload route and the ingestion loaders (bot.sources.documents.load_document,
bot.sources.folder.load_file) answer every random or adversarial input with a clear 4xx or a
LoadError with a reason — never a 500, a crash, a hang, or a file outside the upload folder.

Examples per property: FARUN_FUZZ_EXAMPLES (default 50; 2000 for a long run).
"""
from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import stat
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st


EXAMPLES = int(os.environ.get("FARUN_FUZZ_EXAMPLES", "50"))
PASSWORD = "fuzz-admin-pass-9"
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))

ADVERSARIAL = [
    "", " ", "\n\t\r", "\x00", "\x00" * 50, "\x1b[31m红\x1b[0m", "\u202e\u202d\u200f\u200b\ufeff", "‮劳动合同法‬",
    "😀" * 200, "👨‍👩‍👧‍👦🏳️‍🌈", "<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "javascript:alert(1)",
    "' OR 1=1 --", "'; DROP TABLE questions; --", "%s%s%n", "{0}{1}", "${jndi:ldap://x}", "../../etc/passwd",
    "第" * 500, "第99999999999999999999条", "第-1条", "之一之二之三", "民法典第一千零七十九条之九十九", "？" * 100,
    "\ud800", "a\udfffb", "\U0010ffff", "ℌ𝔢𝔩𝔩𝔬", "ﾟ･✿ヾ╲(｡◕‿◕｡)╱✿･ﾟ", "null", "[]", "{}", "1e309",
]
text = st.one_of(st.text(max_size=300), st.sampled_from(ADVERSARIAL),
                 st.lists(st.sampled_from(ADVERSARIAL + ["工资", "劳动合同", "退货", "第十条"]), max_size=8).map("".join))
# query strings cannot carry lone surrogates (the client refuses to encode them); raw bytes are tried below
qtext = text.map(lambda t: t.encode("utf-8", "replace").decode("utf-8"))
json_value = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | text,
                          lambda c: st.lists(c, max_size=4) | st.dictionaries(text, c, max_size=4), max_leaves=12)


@pytest.fixture(scope="module")
def service(make_service):
    return make_service("fuzz", PASSWORD, max_file_mb=1)


@pytest.fixture(scope="module")
def client(service):
    from fastapi.testclient import TestClient

    from bot.api import create_app

    return TestClient(create_app(service=service, rate_limit=0), raise_server_exceptions=False)


def clear(r, ok=(200, 201)) -> None:
    """A success, or a 4xx with the error JSON: never a 5xx."""
    assert r.status_code < 500, (r.status_code, r.text[:300])
    if r.status_code not in ok:
        assert 400 <= r.status_code < 500
        body = r.json()
        assert body["error"] and body["message"], body


def raw_json(obj) -> bytes:
    # json.dumps keeps lone surrogates as \ud800 escapes: the server must cope with them
    return json.dumps(obj).encode()


# ---- public API ------------------------------------------------------------------------------------
@FUZZ
@given(question=text, audience=st.sampled_from(["resident", "adviser", "enterprise", "judge", ""]),
       history=st.lists(st.tuples(text, text), max_size=3))
def test_ask(client, question, audience, history):
    clear(client.post("/api/ask", content=raw_json({"question": question, "audience": audience, "history": history}),
                      headers={"Content-Type": "application/json"}))


@FUZZ
@given(q=qtext, k=st.integers(-5, 80), level=st.lists(qtext, max_size=2), status=st.none() | qtext)
def test_search(client, q, k, level, status):
    params = {"q": q, "k": k, "level": level} | ({"status": status} if status is not None else {})
    clear(client.get("/api/search", params=params))


@FUZZ
@given(law=qtext, number=qtext, status=st.none() | st.sampled_from(["all", "current", "历史版本", "x"]))
def test_article(client, law, number, status):
    clear(client.get("/api/article", params={"law": law, "number": number} | ({"status": status} if status else {})),
          ok=(200, 404))


@FUZZ
@given(body=st.one_of(json_value, st.fixed_dictionaries(
    {"question_id": st.none() | st.integers(-2**70, 2**70) | text, "rating": st.sampled_from(["good", "bad", "好", "差", "meh", ""]) | text,
     "reason": text})))
def test_feedback(client, body):
    clear(client.post("/api/feedback", content=raw_json(body), headers={"Content-Type": "application/json"}), ok=(201, 404))


@FUZZ
@given(body=st.binary(max_size=2000), path=st.sampled_from(["/api/ask", "/api/feedback"]),
       ctype=st.sampled_from(["application/json", "text/plain", "application/x-www-form-urlencoded", ""]))
def test_raw_bodies(client, body, path, ctype):
    """Invalid UTF-8, truncated JSON, binary: 4xx."""
    r = client.post(path, content=body, headers={"Content-Type": ctype} if ctype else {})
    clear(r, ok=(200, 201, 404))


@pytest.mark.parametrize("body", [
    b'{"question": "\\ud800\\udc00\\ud800"}', b'{"question": "\xff\xfe\xfa"}', b'{"question": "\xe5\xb7"}',
    b'{"question": 12}', b'{"question": null}', b'{"question": ["a"]}', b'{"question": "a", "history": [["a"]]}',
    b'{"question": "a", "history": [[1, 2, 3]]}', b"[" * 5000, b'{"question": "' + "工资".encode() * 20000 + b'"}',
])
def test_ask_adversarial_bodies(client, body):
    clear(client.post("/api/ask", content=body, headers={"Content-Type": "application/json"}))


@pytest.mark.parametrize("query", ["q=%ff%fe%fd", "q=%e5%b7", "q=%00", "q=%", "q=a&k=%ff", "law=%ff&number=%c0%af"])
def test_invalid_percent_encoding(client, query):
    for path in ("/api/search", "/api/article"):
        clear(client.get(f"{path}?{query}"), ok=(200, 404))


def test_one_megabyte_question_is_413(client):
    r = client.post("/api/ask", json={"question": "工" * (1 << 20)})
    assert r.status_code == 413 and r.json()["error"] == "too_large"
    r = client.get("/api/search", params={"q": "工" * 5000})
    assert r.status_code in (414, 422, 431) or r.status_code < 500


# ---- loaders ---------------------------------------------------------------------------------------
SUFFIXES = [".docx", ".pdf", ".html", ".htm", ".txt", ".md"]


def load_any(path: Path, max_bytes: int = 1 << 20):
    from bot.sources import LoadError
    from bot.sources.documents import load_document
    from bot.sources.folder import load_file

    try:
        if path.suffix == ".md":
            return load_file(path, "fuzz", max_bytes).units
        return load_document(path, {"source": "fuzz"}, max_bytes=max_bytes)
    except LoadError as exc:
        assert str(exc)  # a reason
        return None


def _mutations():
    pdf = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
           b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 612 792]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF")
    return st.one_of(st.binary(max_size=4000), st.builds(lambda n, junk: pdf[:n] + junk, st.integers(0, len(pdf)), st.binary(max_size=50)),
                     st.builds(lambda n: b"PK\x03\x04" + os.urandom(n), st.integers(0, 200)),
                     text.map(lambda t: t.encode("utf-8", "surrogatepass")),
                     text.map(lambda t: t.encode("gb18030", "replace")))


@FUZZ
@given(data=_mutations(), suffix=st.sampled_from(SUFFIXES))
def test_loaders_fuzz(tmp_path_factory, data, suffix):
    path = tmp_path_factory.mktemp("load") / f"doc{suffix}"
    path.write_bytes(data)
    load_any(path)


def _encrypted_pdf(path: Path) -> Path:
    from pypdf import PdfWriter

    w = PdfWriter()
    w.add_blank_page(200, 200)
    w.encrypt("secret-pw")
    with path.open("wb") as f:
        w.write(f)
    return path


def _docx_bytes() -> bytes:
    import docx

    d, buf = docx.Document(), io.BytesIO()
    d.add_heading("测试办法", 0)
    d.add_paragraph("第一条 为了测试，制定本办法。")
    d.save(buf)
    return buf.getvalue()


@pytest.mark.parametrize("name, make, reason", [
    ("truncated.pdf", lambda p: p.write_bytes(b"%PDF-1.7\n1 0 obj<</Type/Catalog"), "PDF"),
    ("encrypted.pdf", _encrypted_pdf, "加密"),
    ("fake.pdf", lambda p: p.write_text("不是PDF", encoding="utf-8"), "%PDF"),
    ("notzip.docx", lambda p: p.write_text("plain text", encoding="utf-8"), "DOCX"),
    ("xlsx.docx", lambda p: zipfile.ZipFile(p, "w").writestr("xl/workbook.xml", "<x/>"), "DOCX"),
    ("truncated.docx", lambda p: p.write_bytes(_docx_bytes()[:3000]), "DOCX"),
    ("binary.md", lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4), "二进制"),
    ("binary.txt", lambda p: p.write_bytes(bytes(range(1, 32)) * 200), "控制字符"),
    ("empty.txt", lambda p: p.write_bytes(b""), "文字"),
    ("script.html", lambda p: p.write_text("<html><script>alert(1)</script></html>", encoding="utf-8"), "文字"),
    ("frontmatter.md", lambda p: p.write_text("---\ntitle: [unclosed\n---\n正文", encoding="utf-8"), "YAML"),
])
def test_malformed_files_are_skipped_with_a_reason(tmp_path, name, make, reason):
    from bot.sources import LoadError
    from bot.sources.folder import load_folder

    make(tmp_path / name)
    with pytest.raises(LoadError, match=reason):
        if name.endswith(".md"):
            from bot.sources.folder import load_file

            load_file(tmp_path / name, "fuzz", 1 << 20)
        else:
            from bot.sources.documents import load_document

            load_document(tmp_path / name)
    skipped = load_folder(tmp_path).skipped  # in a folder: skipped with the reason, the build goes on
    assert [Path(s.path).name for s in skipped] == [name] and reason in skipped[0].reason


def test_gbk_text_is_read(tmp_path):
    path = tmp_path / "gbk.txt"
    path.write_bytes("关于促进就业的通知\n\n一、适用范围\n本通知适用于高校毕业生就业补贴的申请。".encode("gbk"))
    units = load_any(path)
    assert units and "高校毕业生" in units[0].text


def test_hundred_megabyte_file_is_refused_unread(tmp_path):
    """A sparse 100 MB file (no 100 MB in memory or on disk) is refused by size before reading."""
    for suffix in (".txt", ".pdf", ".md", ".docx"):
        big = tmp_path / f"big{suffix}"
        with big.open("wb") as f:
            f.truncate(100 << 20)
        assert load_any(big, max_bytes=1 << 20) is None
        assert big.stat().st_blocks * 512 < 1 << 20  # still sparse: nothing was written into it


# ---- uploads -----------------------------------------------------------------------------------------
def _zip(entries: list[tuple[str, bytes]], mode: int | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in entries:
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            if mode is not None:
                info.external_attr = mode << 16
            z.writestr(info, data)
    return buf.getvalue()


def _bomb() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z, z.open("bomb.txt", "w") as f:
        chunk = b"\0" * (1 << 20)
        for _ in range(50):  # 50 MB of zeros, about 50 KB compressed; streamed, never held whole
            f.write(chunk)
    return buf.getvalue()


def _files_outside(root: Path, uploads: Path) -> set[Path]:
    return {p for p in root.rglob("*") if uploads not in p.parents and p != uploads}


@pytest.mark.parametrize("name, data, status", [
    ("traversal.zip", _zip([("../../evil.txt", "第一条 测试。".encode())]), 400),
    ("absolute.zip", _zip([("/tmp/farun-evil.txt", "第一条 测试。".encode())]), 400),
    ("windows.zip", _zip([("C:\\evil.txt", "第一条 测试。".encode())]), 400),
    ("backslash.zip", _zip([("..\\..\\evil.txt", "第一条 测试。".encode())]), 400),
    ("link.zip", _zip([("link.txt", b"/etc/passwd")], mode=stat.S_IFLNK | 0o777), 400),
    ("bomb.zip", _bomb(), 413),
    ("many.zip", _zip([(f"f{i}.txt", b"x") for i in range(300)]), 413),
    ("nothing.zip", _zip([("a.exe", b"MZ")]), 400),
    ("corrupt.zip", b"PK\x03\x04" + b"\0" * 100, 400),
    ("notzip.docx", "这是纯文本".encode(), 400),
    ("image.pdf", b"\x89PNG\r\n\x1a\n" + b"\0" * 100, 400),
    ("binary.md", b"\0\1\2\3" * 100, 400),
    ("script.exe", b"MZ\x90\x00", 400),
    ("../../escape.txt", "第一条 为了测试。".encode(), 201),  # the name is reduced to escape.txt inside uploads
    ("too-big.txt", b"a" * ((1 << 20) + 10), 413),
])
def test_upload_rejections(client, service, name, data, status):
    root = service.records.path.parent
    before = _files_outside(root, service.uploads)
    r = client.post("/api/admin/documents", files={"file": (name, data)}, auth=("admin", PASSWORD))
    assert r.status_code == status, r.text[:300]
    clear(r)
    assert _files_outside(root, service.uploads) - before <= {p for p in root.glob("farun.sqlite*")}
    assert not Path("/tmp/farun-evil.txt").exists()
    for p in service.uploads.rglob("*"):
        assert p.resolve().is_relative_to(service.uploads.resolve())
    if status == 201:
        for d in r.json()["documents"]:
            service.remove(d["doc_id"])


def test_declared_hundred_megabytes_is_413_before_reading(client, tmp_path):
    """The body limit is checked on Content-Length: the server answers 413 without reading the body."""
    sent = []

    def body():
        sent.append(1)
        yield b"x" * 1024

    r = client.post("/api/admin/documents", content=body(), auth=("admin", PASSWORD),
                    headers={"Content-Length": str(100 << 20), "Content-Type": "multipart/form-data; boundary=b"})
    assert r.status_code == 413 and r.json()["error"] == "too_large"
    r = client.post("/api/ask", content=b"{}", headers={"Content-Length": str(100 << 20), "Content-Type": "application/json"})
    assert r.status_code == 413


def test_chunked_bodies_are_cut_off_at_the_limit(client):
    """Without a Content-Length the body is counted as it arrives: an endless chunked stream gets
    413 once the limit is passed, having been read no further. (Driven at the ASGI level: the
    test client would buffer the whole request first.)"""
    def run(path: str, content_type: bytes, chunk: int, preamble: bytes = b"") -> tuple[int, int]:
        pulled, sent = 0, []

        async def receive():
            nonlocal pulled
            pulled += 1
            # 256 chunks at most, so that a server without the limit fails the test instead of hanging
            return {"type": "http.request", "body": (preamble if pulled == 1 else b"") + b"x" * chunk,
                    "more_body": pulled < 256}

        async def send(message):
            sent.append(message)

        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
                 "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
                 "headers": [(b"content-type", content_type), (b"host", b"testserver"),
                             (b"authorization", b"Basic " + base64.b64encode(f"admin:{PASSWORD}".encode()))],
                 "client": ("127.0.0.1", 1), "server": ("testserver", 80)}
        asyncio.run(client.app(scope, receive, send))
        return next(m["status"] for m in sent if m["type"] == "http.response.start"), pulled * chunk

    status, read = run("/api/ask", b"application/json", 1024)
    assert status == 413 and read <= (64 << 10) + 1024
    status, read = run("/api/admin/documents", b"multipart/form-data; boundary=b", 1 << 16,
                       b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\n')
    assert status == 413 and read <= (3 << 20)  # the upload limit of the test service, plus one chunk


def test_sparse_hundred_megabyte_upload_to_the_service(service, tmp_path):
    from bot.admin import UploadError

    big = tmp_path / "big.txt"
    with big.open("wb") as f:
        f.truncate(100 << 20)
    with pytest.raises(UploadError) as exc:
        service.upload(big, "big.txt")
    assert exc.value.status == 413 and "上限" in str(exc.value)
