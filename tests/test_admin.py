"""bot.admin: upload → units → searchable → removed; ZIP safety; clear errors; admin auth."""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import docx
import pytest


PHRASE = "萤火虫创业补贴"
PASSWORD = "admin-pass-for-tests"


def make_docx(path: Path, title: str = "青禾市促进小微企业发展若干措施") -> Path:
    d = docx.Document()
    d.add_heading(title, 0)
    d.add_heading("一、资金支持", 1)
    d.add_paragraph(f"对首次创业的小微企业发放{PHRASE}，每户一次性补贴5000元，由市人力资源和社会保障局审核发放。")
    d.add_heading("二、融资服务", 1)
    d.add_paragraph("设立小微企业应急转贷资金，为按期还款有困难的企业提供短期周转。")
    d.save(path)
    return path


@pytest.fixture(scope="module")
def service(make_service):
    return make_service("admin", PASSWORD)


def _found(service, doc_id: str) -> bool:
    from bot.retrieval.search import Filters

    return any(h.unit.doc_id == doc_id for h in service.kb.search(PHRASE, k=5, filters=Filters(status=["all"])))


def test_docx_upload_becomes_searchable_then_removed(service, tmp_path):
    before = service.kb.stats()["units"]
    [doc] = service.upload(make_docx(tmp_path / "measures.docx"), "measures.docx",
                           {"level": "政策", "issuer": "青禾市人民政府", "doc_number": "青政发〔2026〕3号",
                            "published": "2026-03-01", "valid_from": "2026-03-01"})
    assert doc.title == "青禾市促进小微企业发展若干措施" and len(doc.units) >= 2
    assert all(u.doc_number == "青政发〔2026〕3号" and u.level == "政策" for u in doc.units)
    assert service.kb.stats()["units"] == before + len(doc.units)
    assert _found(service, doc.doc_id)
    assert service.records.document(doc.doc_id)["units"] == len(doc.units)
    assert (service.uploads / doc.file).exists()
    # uploading the same document again replaces it instead of doubling it
    [again] = service.upload(make_docx(tmp_path / "measures.docx"), "measures.docx", {"published": "2026-03-01"})
    assert again.doc_id == doc.doc_id and service.kb.stats()["units"] == before + len(doc.units)

    service.remove(doc.doc_id)
    assert not _found(service, doc.doc_id)
    assert service.kb.stats()["units"] == before
    assert service.records.document(doc.doc_id) is None
    with pytest.raises(KeyError):
        service.remove(doc.doc_id)


def test_zip_of_documents(service, tmp_path):
    archive = tmp_path / "docs.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        z.write(make_docx(tmp_path / "a.docx", "青禾市甲办法"), "sub/a.docx")
        z.writestr("b.txt", "青禾市乙通知\n\n一、适用范围\n本通知适用于全市个体工商户的萤火虫创业补贴申请。")
        z.writestr("notes.exe", b"MZ")
    docs = service.upload(archive, "docs.zip", {"level": "政策"})
    assert sorted(d.title for d in docs) == ["青禾市乙通知", "青禾市甲办法"]
    for d in docs:
        service.remove(d.doc_id)


@pytest.mark.parametrize("name", ["../evil.txt", "/etc/evil.txt", "a/../../evil.txt", "C:/evil.txt"])
def test_zip_with_path_traversal_is_rejected(service, tmp_path, name):
    from bot.admin import UploadError

    archive = tmp_path / "bad.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("ok.txt", "正常文件\n\n一、内容\n正文。")
        z.writestr(name, "恶意文件")
    before = list(service.uploads.rglob("*")) if service.uploads.exists() else []
    with pytest.raises(UploadError, match="不安全的路径"):
        service.upload(archive, "bad.zip", {})
    assert not (tmp_path.parent / "evil.txt").exists()
    assert (list(service.uploads.rglob("*")) if service.uploads.exists() else []) == before


def test_zip_bomb_is_rejected(tmp_path):
    from bot.admin import UploadError, safe_extract

    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("zeros.txt", b"0" * (20 << 20))
    with pytest.raises(UploadError, match="压缩比异常") as exc:
        safe_extract(archive, tmp_path / "out", max_total=200 << 20, max_member=50 << 20)
    assert exc.value.status == 413
    stored = tmp_path / "big.zip"
    with zipfile.ZipFile(stored, "w", zipfile.ZIP_STORED) as z:
        for i in range(3):
            z.writestr(f"part{i}.txt", b"1" * (1 << 20))
    with pytest.raises(UploadError, match="解压后过大"):
        safe_extract(stored, tmp_path / "out", max_total=2 << 20, max_member=50 << 20)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name, content, message", [
    ("broken.docx", b"this is not a word file", "DOCX"),
    ("tool.exe", b"MZ", "不支持的文件类型"),
    ("empty.txt", b"", "没有可提取的文字"),
    ("scan.pdf", b"not a pdf", "PDF"),
])
def test_bad_files_give_a_clear_error(service, tmp_path, name, content, message):
    from bot.admin import UploadError

    path = tmp_path / name
    path.write_bytes(content)
    units = service.kb.stats()["units"]
    with pytest.raises(UploadError, match=message):
        service.upload(path, name, {})
    assert service.kb.stats()["units"] == units


@pytest.mark.parametrize("meta, message", [({"level": "圣旨"}, "层级"), ({"published": "2026-13-45"}, "日期"),
                                           ({"valid_from": "2026-05-01", "valid_to": "2026-01-01"}, "早于")])
def test_bad_metadata_is_refused(service, tmp_path, meta, message):
    from bot.admin import UploadError

    with pytest.raises(UploadError, match=message):
        service.upload(make_docx(tmp_path / "m.docx"), "m.docx", meta)


def test_upload_and_remove_through_the_api(service, tmp_path):
    from fastapi.testclient import TestClient

    from bot.api import create_app

    c = TestClient(create_app(service=service, rate_limit=0))
    auth = ("admin", PASSWORD)
    path = make_docx(tmp_path / "api.docx", "青禾市丙措施")
    with path.open("rb") as f:
        files = {"file": ("api.docx", f, "application/octet-stream")}
        assert c.post("/api/admin/documents", files=files, data={"level": "政策"}).status_code == 401
    with path.open("rb") as f:
        r = c.post("/api/admin/documents", files={"file": ("api.docx", f)}, data={"level": "政策", "issuer": "青禾市"}, auth=auth)
    assert r.status_code == 201, r.text
    [doc] = r.json()["documents"]
    hits = c.get("/api/search", params={"q": PHRASE, "level": "政策"}).json()
    assert any(h["law"] == "青禾市丙措施" for h in hits)
    assert [d["doc_id"] for d in c.get("/api/admin/documents", auth=auth).json()] == [doc["doc_id"]]
    r = c.post("/api/admin/documents", files={"file": ("x.docx", io.BytesIO(b"garbage"))}, auth=auth)
    assert r.status_code == 400 and "DOCX" in r.json()["message"]
    assert c.delete(f"/api/admin/documents/{doc['doc_id']}", auth=auth).status_code == 200
    hits = c.get("/api/search", params={"q": PHRASE, "level": "政策"}).json()
    assert not any(h["law"] == "青禾市丙措施" for h in hits)


@pytest.mark.parametrize("password, enabled", [("", False), ("admin", False), ("123456", False), ("short1", False),
                                               ("a-Long-unique-pass", True)])
def test_admin_auth_refuses_default_passwords(password, enabled):
    from bot.admin import AdminAuth

    auth = AdminAuth.from_env({"FARUN_ADMIN_USER": "admin", "FARUN_ADMIN_PASSWORD": password})
    assert auth.enabled is enabled and (auth.reason == "") is enabled
    assert auth.check("admin", password) is enabled
    assert not auth.check("admin", password + "x")
    assert password not in repr(auth.digest) or not password
