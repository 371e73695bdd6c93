"""`python -m bot sync`: local git repositories (LawRefBook and Bibliotheca layouts, built here
from a few files of the shared corpus) and a folder, synced into a small index; the change
report, the incremental update, the failures that must leave the index serving as before, and
what stats shows. No network: every repository is a folder under tmp_path."""
from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from bot.index import layout
from bot.index.builder import build, index_text
from bot.index.dense import DenseIndex
from bot.index.store import UnitStore
from bot.sources import synced
from bot.sync.run import sync
from bot.units import PENDING, REPEALED

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git command not installed")

SHANDONG = "山东地方法规/地方性法规/山东"
BINZHOU = "滨州市城区道路管理条例(2016-11-28).md"
FINES = "山东省地方政府规章设定罚款限额规定(2017-07-28).md"
ROADS = "山东省公路路政条例(2020-07-24).md"
HEZE = "菏泽市大气污染防治条例(2016-09-30).md"
IN_REPO = "DLC/山东地方法规/地方性法规/山东"
LAWS = "Laws-DLC-山东地方法规"
REPEAL_ROADS = """# 山东省人民代表大会常务委员会关于废止《山东省公路路政条例》的决定

2026年9月25日 山东省第十四届人民代表大会常务委员会第十八次会议通过

<!-- INFO END -->

山东省第十四届人民代表大会常务委员会第十八次会议决定：废止《山东省公路路政条例》。

本决定自2026年10月1日起施行。
"""


class CountingEmbedder:
    """The fixture embedder, recording every passage it is asked to embed."""

    def __init__(self, inner):
        self.inner, self.name, self.dim = inner, inner.name, inner.dim
        self.passages: list[str] = []

    def encode_passages(self, texts):
        self.passages += list(texts)
        return self.inner.encode_passages(texts)


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.org", *args],
                          check=True, capture_output=True, text=True)
    return done.stdout.strip()


def commit(repo: Path, message: str) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message)


@pytest.fixture()
def read_corpus():
    """read_corpus(rel) -> the text of a shared-corpus file (the test is skipped without it)."""
    from bot.sources import read_text

    root = Path(__file__).resolve().parents[2] / "shared" / "corpus"

    def read(rel: str) -> str:
        path = root / rel
        if not path.exists():
            pytest.skip(f"shared corpus file not present: {path}")
        return read_text(path)

    return read


@pytest.fixture()
def settings(small_settings, embedder):
    """A built small index (two laws) with its own data directory (tmp_path/var)."""
    build(small_settings, progress=False, embedder=embedder)
    return small_settings


@pytest.fixture()
def laws_repo(tmp_path, read_corpus) -> Path:
    """A repository in the LawRefBook/Laws layout: four Shandong regulations under
    DLC/山东地方法规, a Hugo index page, the collection's database, a file outside the path."""
    repo = tmp_path / "Laws"
    folder = repo / IN_REPO
    folder.mkdir(parents=True)
    for name in (BINZHOU, FINES, ROADS, HEZE):
        (folder / name).write_text(read_corpus(f"{SHANDONG}/{name}"), encoding="utf-8")
    (folder / "_index.md").write_text("---\nbookCollapseSection: true\n---", encoding="utf-8")
    (repo / "DLC/山东地方法规/db.sqlite3").write_bytes(b"SQLite format 3\x00")
    (repo / "DLC/江苏地方法规").mkdir(parents=True)
    (repo / "DLC/江苏地方法规/江苏省某条例(2020-01-01).md").write_text("# 江苏省某条例\n\n<!-- INFO END -->\n\n第一条 不应被同步。\n",
                                                                encoding="utf-8")
    (repo / "README.md").write_text("# Laws\n", encoding="utf-8")
    git(repo, "init", "-q")
    commit(repo, "first")
    return repo


def served(settings) -> dict:
    """uid -> (row id, vector) of every unit the serving index holds."""
    folder = layout.current(settings.index_dir)
    store, dense = UnitStore(folder / layout.STORE, readonly=True), DenseIndex.load(folder)
    try:
        return {u.uid: (i, dense.index.reconstruct(i)) for i, u in store.get([r["id"] for r in store.columns("id")]).items()}
    finally:
        store.close()


def source_units(settings, name: str = LAWS) -> list:
    store = UnitStore(layout.current(settings.index_dir) / layout.STORE, readonly=True, as_of=settings.as_of)
    try:
        return list(store.by_doc(store.doc_ids_from(synced.label(name))).values())
    finally:
        store.close()


def test_a_repository_is_synced_then_its_changes_reported_and_applied_incrementally(settings, laws_repo, embedder):
    first = sync(settings, str(laws_repo), "DLC/山东地方法规", embedder=embedder)
    assert first.run.ok and first.applied and first.layout == "LawRefBook"
    assert sorted(first.changes.added) == sorted(["滨州市城区道路管理条例", "山东省地方政府规章设定罚款限额规定",
                                                  "山东省公路路政条例", "菏泽市大气污染防治条例"])
    assert any(s["path"] == "_index.md" or s["path"].endswith("_index.md") for s in first.changes.skipped)
    units = source_units(settings)
    assert {u.level for u in units} == {"地方性法规"} and "江苏省某条例" not in {u.law for u in units}
    assert (settings.data_dir / "sync" / LAWS / IN_REPO / BINZHOU).exists()

    folder = laws_repo / IN_REPO
    text = (folder / BINZHOU).read_text(encoding="utf-8")
    (folder / BINZHOU).write_text(text.replace("道路包括主干路、", "道路包括快速路、主干路、"), encoding="utf-8")
    commit(laws_repo, "amend 第二条")
    (folder / "山东省人民代表大会常务委员会关于废止《山东省公路路政条例》的决定(2026-09-25).md").write_text(REPEAL_ROADS, encoding="utf-8")
    (folder / HEZE).unlink()
    fines = (folder / FINES).read_text(encoding="utf-8")
    (folder / FINES).unlink()
    fines = fines.replace("<!-- INFO END -->", "2027年1月1日起施行\n\n<!-- INFO END -->").replace(
        "本规定自2017年9月1日起施行", "本规定自2027年1月1日起施行")
    (folder / "山东省地方政府规章设定罚款限额规定(2026-11-20).md").write_text(fines, encoding="utf-8")
    commit(laws_repo, "repeal 公路路政条例, remove 菏泽, new version of 罚款限额")

    before = served(settings)
    counting = CountingEmbedder(embedder)
    second = sync(settings, str(laws_repo), "DLC/山东地方法规", embedder=counting)
    c = second.changes
    assert second.run.ok and second.applied
    assert c.added == ["山东省人民代表大会常务委员会关于废止《山东省公路路政条例》的决定"]
    assert c.removed == ["菏泽市大气污染防治条例"]
    assert c.new_versions == [{"title": "山东省地方政府规章设定罚款限额规定", "old": "2017-07-28", "new": "2026-11-20"}]
    assert {(a["title"], a["article"], a["change"]) for a in c.articles} == {
        ("滨州市城区道路管理条例", "第二条", "修改"), ("山东省地方政府规章设定罚款限额规定", "第五条", "修改")}
    diff = next(a["diff"] for a in c.articles if a["article"] == "第二条")
    assert "《滨州市城区道路管理条例》第二条" in diff and "+道路包括快速路、主干路" in diff and "-道路包括主干路" in diff
    assert [(r["title"], r["status"]) for r in c.repealed] == [("山东省公路路政条例", REPEALED)]
    assert "废止依据" in c.repealed[0]["note"]
    assert [(p["title"], p["status"]) for p in c.pending] == [("山东省地方政府规章设定罚款限额规定", PENDING)]

    after = served(settings)
    laws_db = {uid for uid in before if uid not in {u.uid for u in first.changes.add}}
    assert laws_db and all(after[uid][0] == before[uid][0] for uid in laws_db)  # untouched units keep their row ids
    assert all((after[uid][1] == before[uid][1]).all() for uid in laws_db)
    new = {u.uid: u for u in source_units(settings)}
    first_text = {u.uid: u.text for u in first.changes.add}
    kept = [uid for uid in new if first_text.get(uid) == new[uid].text]  # re-added with the same text: same vector
    assert len(kept) >= 5 and all((after[uid][1] == before[uid][1]).all() for uid in kept)
    amended = {("滨州市城区道路管理条例", "第二条"), ("山东省地方政府规章设定罚款限额规定", "第五条")}
    expected = {index_text(u) for u in new.values() if (u.law, u.article) in amended or u.law == c.added[0]}
    assert set(counting.passages) == expected  # only the amended articles and the new decision were embedded
    statuses = {u.law: u.status for u in new.values()}
    assert statuses["山东省公路路政条例"] == REPEALED and statuses["山东省地方政府规章设定罚款限额规定"] == PENDING
    assert "菏泽市大气污染防治条例" not in statuses

    third = sync(settings, str(laws_repo), "DLC/山东地方法规", embedder=counting)
    assert third.run.ok and not third.applied and third.changes.counts["units_added"] == 0

    # a full rebuild keeps the synced source, with the same documents and statuses
    build(settings, progress=False, embedder=embedder)
    rebuilt = {u.uid: u.status for u in source_units(settings)}
    assert rebuilt == {uid: u.status for uid, u in new.items()}


def test_a_bibliotheca_repository_part_is_synced_with_its_level_and_decisions(settings, tmp_path, read_corpus, embedder):
    repo = tmp_path / "Bibliotheca"
    for rel in ("行政法规/行政法规/保障农民工工资支付条例.md", "行政法规/修改、废止的决定/国务院关于废止部分行政法规的决定.md",
                "司法解释/高法司法解释/最高人民法院关于适用《中华人民共和国民法典》有关担保制度的解释.md"):
        path = repo / "国家法律法规数据库" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(read_corpus(rel), encoding="utf-8")
    git(repo, "init", "-q")
    commit(repo, "first")
    out = sync(settings, str(repo), "国家法律法规数据库/行政法规", embedder=embedder)
    assert out.run.ok and out.layout == "Bibliotheca" and out.run.source == "Bibliotheca-国家法律法规数据库-行政法规"
    units = source_units(settings, out.run.source)
    assert {u.level for u in units} == {"行政法规"} and {u.issuer for u in units} == {"国务院"}
    assert "保障农民工工资支付条例" in {u.law for u in units} and not any("担保" in u.law for u in units)
    assert out.run.revision == git(repo, "rev-parse", "HEAD")


def test_a_folder_source_is_copied_synced_and_survives_its_folder_going_away(settings, tmp_path, embedder):
    downloads = tmp_path / "flk下载"
    downloads.mkdir()
    (downloads / "济南市促进就业若干措施.md").write_text(
        "---\ntitle: 济南市促进就业若干措施\nissuer: 济南市人民政府\npublished: 2026-03-01\n---\n"
        "# 济南市促进就业若干措施\n\n一、支持创业\n\n对首次创业的给予一次性补贴。\n\n二、稳定岗位\n\n企业稳岗返还按规定执行。\n",
        encoding="utf-8")
    (downloads / "说明.csv").write_text("a,b\n", encoding="utf-8")
    (downloads / "jn-dogs.txt").write_text("济南市养犬管理规定\n\n第一条 为了规范养犬行为，制定本规定。\n\n第二条 本规定自公布之日起施行。\n",
                                           encoding="utf-8")
    # the fields flk.npc.gov.cn shows for a download, as Excel saves them (GBK)
    (downloads / "metadata.csv").write_bytes(
        "文件,标题,制定机关,法律性质,时效性,公布日期,施行日期\n"
        "jn-dogs.txt,济南市养犬管理规定,济南市人民代表大会常务委员会,地方性法规,已废止,2009年3月27日,2009-05-01\n".encode("gbk"))
    first = sync(settings, str(downloads), embedder=embedder)
    assert first.run.ok and first.run.kind == "folder"
    assert sorted(first.changes.added) == ["济南市促进就业若干措施", "济南市养犬管理规定"]
    assert first.run.files.keys() == {"济南市促进就业若干措施.md", "说明.csv", "jn-dogs.txt", "metadata.csv"}
    assert [s["path"].rsplit("/", 1)[-1] for s in first.changes.skipped] == ["说明.csv"]
    dogs = [u for u in source_units(settings, "flk下载") if u.law == "济南市养犬管理规定"]
    assert {(u.level, u.issuer, u.published, u.valid_from, u.status) for u in dogs} == {
        ("地方性法规", "济南市人民代表大会常务委员会", "2009-03-27", "2009-05-01", REPEALED)}
    assert [r["title"] for r in first.changes.repealed] == ["济南市养犬管理规定"]

    doc = downloads / "济南市促进就业若干措施.md"
    doc.write_text(doc.read_text(encoding="utf-8").replace("一次性补贴", "一次性创业补贴"), encoding="utf-8")
    second = sync(settings, str(downloads), embedder=embedder)
    assert [a["change"] for a in second.changes.articles] == ["修改"] and "一次性创业补贴" in second.changes.articles[0]["diff"]
    assert second.run.revision != first.run.revision

    shutil.rmtree(downloads)
    index_before = layout.current(settings.index_dir)
    gone = sync(settings, str(downloads), embedder=embedder)
    assert not gone.run.ok and "不存在" in gone.run.message and gone.changes is None
    assert layout.current(settings.index_dir) == index_before
    assert (settings.data_dir / "sync" / "flk下载" / "济南市促进就业若干措施.md").exists()  # the last synced copy stays
    assert not [p for p in (settings.data_dir / "sync").iterdir() if p.name.startswith(".")]


def test_bad_repositories_are_refused_with_a_reason_and_the_index_untouched(settings, tmp_path, laws_repo, read_corpus,
                                                                           embedder):
    index_before = layout.current(settings.index_dir)
    notes = tmp_path / "notes"
    (notes / "docs").mkdir(parents=True)
    (notes / "docs" / "a.md").write_text("# 笔记\n\n随便写写。\n", encoding="utf-8")
    git(notes, "init", "-q")
    commit(notes, "notes")
    unknown = sync(settings, str(notes), embedder=embedder)
    assert not unknown.run.ok and "不是已知的法规仓库格式" in unknown.run.message
    missing = sync(settings, str(laws_repo), "DLC/不存在的目录", embedder=embedder)
    assert not missing.run.ok and "仓库中没有目录 DLC/不存在的目录" in missing.run.message
    assert layout.current(settings.index_dir) == index_before
    assert not [p for p in (settings.data_dir / "sync").iterdir()]  # failed first clones leave nothing behind

    # a GBK file loads; a statute-repository file without articles is skipped with its reason
    folder = laws_repo / IN_REPO
    (folder / "山东省供热条例(2021-12-03).md").write_bytes(
        read_corpus(f"{SHANDONG}/山东省供热条例(2021-12-03).md").encode("gb18030"))
    (folder / "目录(2020-01-01).md").write_text("# 目录\n\n<!-- INFO END -->\n\n本目录收录山东省地方性法规。\n", encoding="utf-8")
    commit(laws_repo, "gbk and a note")
    out = sync(settings, str(laws_repo), "DLC/山东地方法规", embedder=embedder)
    assert out.run.ok and "山东省供热条例" in out.changes.added
    heat = [u for u in source_units(settings) if u.law == "山东省供热条例" and u.article == "第一条"]
    assert heat and heat[0].text.startswith("为了规范供热用热行为")
    assert any("目录" in s["path"] and "没有“第X条”" in s["reason"] for s in out.changes.skipped)

    # a half-written clone: a leftover lock, then a missing HEAD
    clone = settings.data_dir / "sync" / LAWS
    index_before = layout.current(settings.index_dir)
    (clone / ".git" / "index.lock").write_text("")
    locked = sync(settings, str(laws_repo), "DLC/山东地方法规", embedder=embedder)
    assert not locked.run.ok and "index.lock" in locked.run.message
    (clone / ".git" / "index.lock").unlink()
    (clone / ".git" / "HEAD").unlink()
    headless = sync(settings, str(laws_repo), "DLC/山东地方法规", embedder=embedder)
    assert not headless.run.ok and "克隆不完整" in headless.run.message and "删除" in headless.run.message
    assert layout.current(settings.index_dir) == index_before


def test_a_repository_that_disappears_leaves_the_last_sync_serving(settings, laws_repo, embedder):
    assert sync(settings, str(laws_repo), "DLC/山东地方法规", embedder=embedder).run.ok
    index_before, units_before = layout.current(settings.index_dir), len(source_units(settings))
    shutil.rmtree(laws_repo)
    out = sync(settings, str(laws_repo), "DLC/山东地方法规", embedder=embedder)
    assert not out.run.ok and "git fetch 失败" in out.run.message
    assert layout.current(settings.index_dir) == index_before and len(source_units(settings)) == units_before


def test_an_interrupted_update_leaves_the_index_and_the_checkout_as_they_were(settings, laws_repo, embedder, monkeypatch):
    assert sync(settings, str(laws_repo), "DLC/山东地方法规", embedder=embedder).run.ok
    clone = settings.data_dir / "sync" / LAWS
    synced_commit = git(clone, "rev-parse", "HEAD")
    (laws_repo / IN_REPO / HEZE).unlink()
    commit(laws_repo, "remove 菏泽")
    index_before = layout.current(settings.index_dir)
    manifest_before = (index_before / layout.MANIFEST).read_text(encoding="utf-8")

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("bot.index.builder.SparseIndex.build", interrupted)
    with pytest.raises(KeyboardInterrupt):
        sync(settings, str(laws_repo), "DLC/山东地方法规", embedder=embedder)
    assert layout.current(settings.index_dir) == index_before
    assert (index_before / layout.MANIFEST).read_text(encoding="utf-8") == manifest_before
    assert [p.name for p in (settings.index_dir / "builds").iterdir()] == [index_before.name]
    assert "菏泽市大气污染防治条例" in {u.law for u in source_units(settings)}
    assert git(clone, "rev-parse", "HEAD") == synced_commit  # the checkout was put back

    monkeypatch.undo()
    again = sync(settings, str(laws_repo), "DLC/山东地方法规", embedder=embedder)
    assert again.run.ok and again.changes.removed == ["菏泽市大气污染防治条例"]


def test_stats_and_the_command_line_show_the_last_sync(settings, laws_repo, embedder, monkeypatch, capsys):
    from bot.cli.main import main
    from bot.retrieval.search import KnowledgeBase

    out = sync(settings, str(laws_repo), "DLC/山东地方法规", embedder=embedder)
    missing = laws_repo.parent / "gone"
    failed = sync(settings, str(missing), embedder=embedder)
    assert not failed.run.ok
    syncs = {s["source"]: s for s in KnowledgeBase.open(settings, embedder=embedder).stats()["syncs"]}
    assert syncs[LAWS]["ok"] and syncs[LAWS]["revision"] == out.run.revision and syncs[LAWS]["counts"]["added"] == 4
    assert syncs[LAWS]["last_ok"] == syncs[LAWS]["finished"] and syncs[LAWS]["location"] == str(laws_repo)
    assert not syncs["gone"]["ok"] and syncs["gone"]["last_ok"] == "" and "不存在" in syncs["gone"]["message"]

    for key, value in {"FARUN_INDEX_DIR": settings.index_dir, "FARUN_DATA_DIR": settings.data_dir,
                       "FARUN_LAWS_DB": settings.laws_db, "FARUN_TODAY": settings.as_of.isoformat()}.items():
        monkeypatch.setenv(key, str(value))
    capsys.readouterr()
    assert main(["sync", str(missing), "--json"]) == 1  # fails before any model is needed
    printed = json.loads(capsys.readouterr().out)
    assert printed[0]["ok"] is False and printed[0]["report"] is None
    monkeypatch.setattr("bot.retrieval.search.load_embeddings", lambda *a, **k: embedder)
    assert main(["stats"]) == 0
    text = capsys.readouterr().out
    assert "syncs: 2" in text and f"sync:{LAWS}" in text and out.run.revision[:12] in text and "失败" in text


def test_sync_needs_a_built_index(small_settings, tmp_path, laws_repo, embedder):
    chosen = dataclasses.replace(small_settings, index_dir=tmp_path / "no-index")
    out = sync(chosen, str(laws_repo), "DLC/山东地方法规", embedder=embedder)
    assert not out.run.ok and "python -m bot build" in out.run.message
