"""Loaders: laws.db, statute Markdown (both corpus layouts), repeal decisions, folders."""
from __future__ import annotations

import shutil
import sqlite3

import pytest

from bot.lawnames import norm_title
from bot.sources import LoadError, lawsdb, markdown, read_text
from bot.sources.folder import front_matter, load_folder


# ---- laws.db ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def db_units(laws_db):
    return lawsdb.load(laws_db)


def test_lawsdb_loads_every_article(laws_db, db_units):
    con = sqlite3.connect(laws_db)
    (n,) = con.execute("SELECT COUNT(*) FROM articles").fetchone()
    con.close()
    assert len(db_units) == n
    assert len({u.uid for u in db_units}) == n
    assert all(u.source == "laws.db" and u.region == "全国" and u.text for u in db_units)


def test_lawsdb_sub_article(db_units):
    [u] = [u for u in db_units if u.law == "中华人民共和国刑法" and u.article == "第一百三十三条之一"]
    assert u.article_no == 133
    assert u.sub_no == 1
    assert u.chapter == "第二章 危害公共安全罪"
    assert u.citation == "《中华人民共和国刑法》第一百三十三条之一"
    plain = [u for u in db_units if u.law == "中华人民共和国刑法" and u.article == "第一百三十三条"]
    assert plain and plain[0].sub_no is None


def test_lawsdb_chapter_path_and_metadata(db_units):
    labour = [u for u in db_units if u.law == "中华人民共和国劳动合同法"]
    assert len(labour) == 98
    a51 = next(u for u in labour if u.article_no == 51)
    assert a51.chapter == "第五章 特别规定 / 第一节 集体合同"
    a82 = next(u for u in labour if u.article_no == 82)
    assert a82.article == "第八十二条"
    assert "二倍的工资" in a82.text
    assert "劳动合同法" in a82.aliases
    assert a82.level == "法律"
    assert a82.issuer == "全国人民代表大会常务委员会"
    assert (a82.published, a82.valid_from, a82.source_status) == ("2012-12-28", "2008-01-01", "现行有效")
    assert [u.position for u in labour] == list(range(len(labour)))


def test_lawsdb_keeps_every_version(db_units):
    trademark = {u.doc_id: u for u in db_units if u.law == "中华人民共和国商标法"}
    assert len(trademark) == 2
    assert sorted(u.source_status for u in trademark.values()) == ["历史版本", "现行有效"]
    assert {u.source_status for u in db_units if u.law == "中华人民共和国环境保护法"} == {"已废止"}
    assert {u.source_status for u in db_units if u.law == "中华人民共和国刑法"} == {"已被修改"}


def test_lawsdb_missing_file(tmp_path):
    with pytest.raises(LoadError, match="找不到"):
        lawsdb.load(tmp_path / "nope.db")


def test_lawsdb_default_path_exists():
    assert lawsdb.default_path().exists()


# ---- statute Markdown ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def md(corpus_sample, sample_files):
    """The sample's statute files loaded, by name (conftest's `sample_files`)."""
    return {name: markdown.load_file(corpus_sample / rel) for name, rel in sample_files.items()}


def test_heading_layout_judicial_interpretation(md):
    doc = md["guarantee"]
    units = doc.units
    assert units[0].law == "最高人民法院关于适用《中华人民共和国民法典》有关担保制度的解释"
    assert [u.article for u in units[:3]] == ["第一条", "第二条", "第三条"]
    assert [u.article_no for u in units[:3]] == [1, 2, 3]
    assert units[0].text.startswith("因抵押、质押、留置、保证等担保发生的纠纷")
    # the paragraph under ###### 第二条 belongs to it, the second paragraph too
    assert "独立保函" in units[1].text and "\n" in units[1].text
    u = units[0]
    assert u.level == "司法解释"
    assert u.issuer == "最高人民法院"
    assert u.doc_number == "法释〔2020〕28号"
    assert u.published == "2020-12-25"  # header: 2020年12月25日…通过
    assert u.valid_from == "2021-01-01"  # header: 2021年1月1日施行
    assert u.region == "全国"
    assert doc.repeals == []
    assert len({u.doc_id for u in units}) == 1
    assert [u.position for u in units] == list(range(len(units)))


def test_heading_layout_old_interpretation(md):
    u = md["old_guarantee"].units[0]
    assert (u.published, u.valid_from, u.doc_number) == ("2000-12-08", "2000-12-13", "法释〔2000〕44号")


def test_inline_layout_shandong(md):
    units = md["shandong"].units
    u = units[0]
    assert u.law == "山东省供热条例"  # the (2021-12-03) suffix is not part of the title
    assert u.published == "2021-12-03"  # the file-name suffix is the version date
    assert u.region == "山东省"
    assert u.level == "地方性法规"
    assert u.issuer == "山东省人民代表大会常务委员会"
    assert u.article == "第一条" and u.article_no == 1
    assert u.chapter == "第一章 总则"
    assert u.text.startswith("为了规范供热用热行为")
    a2 = units[1]
    assert a2.article == "第二条" and "本条例所称供热" in a2.text  # continuation paragraph kept
    assert units[-1].chapter.startswith("第") and units[-1].chapter != "第一章 总则"


def test_state_council_regulation(md):
    units = md["state_council"].units
    assert units[0].level == "行政法规"
    assert units[0].issuer == "国务院"
    assert units[0].chapter == "第一章 总则"
    assert len(units) > 50
    assert [u.article_no for u in units] == list(range(1, len(units) + 1))


def test_repeal_decision_lists_what_it_repeals(md):
    doc = md["repeal_decision"]
    titles = {norm_title(t) for t in doc.repeals}
    assert norm_title("最高人民法院关于适用《中华人民共和国担保法》若干问题的解释") in titles
    assert norm_title("最高人民法院关于适用《中华人民共和国民法典》有关担保制度的解释") not in titles
    assert len(doc.repeals) > 100  # a 116-row table
    assert doc.effective.isoformat() == "2021-01-01"
    # the decision itself is searchable text, in sections rather than articles
    assert all(u.article == "" for u in doc.units)
    assert doc.units[0].doc_number == "法释〔2020〕16号"


def test_markdown_sub_article_number(tmp_path):
    """第十条之一 in Markdown must be told apart from 第十条, as laws.db does with Unit.sub_no:
    the store keeps it in its own column, and article lookups (kb.article, 第十条之一) depend on it."""
    path = tmp_path / "行政法规" / "测试条例.md"
    path.parent.mkdir()
    path.write_text("# 测试条例\n\n<!-- INFO END -->\n\n## 第一章 总则\n\n第十条 本条例适用于测试。\n\n"
                    "第十条之一 新增的测试规定。\n\n第十一条 本条例自2020年1月1日起施行。\n", encoding="utf-8")
    units = markdown.load_file(path).units
    assert [(u.article, u.article_no) for u in units] == [("第十条", 10), ("第十条之一", 10), ("第十一条", 11)]
    assert [u.sub_no for u in units] == [None, 1, None]


def test_markdown_without_body(tmp_path):
    p = tmp_path / "空.md"
    p.write_text("# 只有标题\n", encoding="utf-8")
    with pytest.raises(LoadError, match="没有正文"):
        markdown.load_file(p)


@pytest.mark.parametrize("rel, level", [("司法解释/x.md", "司法解释"), ("行政法规/行政法规/x.md", "行政法规"),
                                        ("山东地方法规/地方性法规/山东/x.md", "地方性法规")])
def test_level_from_path(tmp_path, rel, level):
    assert markdown.level_for(tmp_path / rel) == level


# ---- read_text ----------------------------------------------------------------------------

def test_read_text_encodings_and_refusals(tmp_path):
    p = tmp_path / "a.txt"
    p.write_bytes("\ufeff第一条 内容\r\n第二条".encode("utf-8"))
    assert read_text(p) == "第一条 内容\n第二条"  # BOM dropped, CRLF folded
    p.write_bytes("第一条 中文内容".encode("gbk"))
    assert read_text(p) == "第一条 中文内容"
    p.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00")
    with pytest.raises(LoadError, match="二进制"):
        read_text(p)
    p.write_bytes("正文".encode() * 100)
    with pytest.raises(LoadError, match="过大"):
        read_text(p, max_bytes=10)


# ---- folder loader ------------------------------------------------------------------------

@pytest.fixture()
def mixed_folder(tmp_path, corpus_sample, sample_files):
    root = tmp_path / "src"
    (root / "行政法规").mkdir(parents=True)
    shutil.copyfile(corpus_sample / sample_files["state_council"], root / "行政法规" / "保障农民工工资支付条例.md")
    (root / "binary.md").write_bytes(b"\x00\x01\x02PK\x03\x04" + bytes(range(256)) * 4)
    (root / "empty.md").write_bytes(b"")
    (root / "README.md").write_text("# 说明\n\n第一条 这不是法规。\n\n第二条 也不是。\n", encoding="utf-8")
    gbk = "# 某市测试办法\n\n<!-- INFO END -->\n\n第一条 为了测试编码，制定本办法。\n\n第二条 本办法自2020年1月1日起施行。\n"
    (root / "地方性法规").mkdir()
    (root / "地方性法规" / "某市测试办法.md").write_bytes(gbk.encode("gbk"))
    (root / "notes.xyz").write_text("什么都不是", encoding="utf-8")
    (root / "policy.md").write_text(
        "---\ntitle: 关于做好高校毕业生就业工作的通知\nlevel: 政策\nissuer: 济南市人力资源和社会保障局\n"
        "region: 济南市\ndoc_number: 济人社字〔2024〕5号\npublished: 2024-03-01\nvalid_to: 2025-12-31\n---\n"
        "# 关于做好高校毕业生就业工作的通知\n\n一、总体要求\n\n坚持就业优先，落实各项就业政策。\n\n"
        "二、一次性补贴\n\n符合条件的毕业生可以向户籍地申领一次性求职创业补贴。\n",
        encoding="utf-8")
    return root


def test_folder_loader(mixed_folder):
    loaded = load_folder(mixed_folder, source="test")
    skipped = {p.split("/")[-1]: reason for p, reason in ((s.path, s.reason) for s in loaded.skipped)}
    assert set(skipped) == {"binary.md", "empty.md", "notes.xyz"}
    assert "二进制" in skipped["binary.md"]
    assert "正文" in skipped["empty.md"]
    assert "不支持" in skipped["notes.xyz"]
    laws = {u.law for u in loaded.units}
    assert laws == {"保障农民工工资支付条例", "某市测试办法", "关于做好高校毕业生就业工作的通知"}
    assert not any("这不是法规" in u.text for u in loaded.units)  # README.md ignored
    assert {u.source for u in loaded.units} == {"test"}


def test_folder_loader_gbk_markdown(mixed_folder):
    units = [u for u in load_folder(mixed_folder).units if u.law == "某市测试办法"]
    assert [u.article for u in units] == ["第一条", "第二条"]
    assert units[0].text == "为了测试编码，制定本办法。"
    assert units[0].level == "地方性法规"


def test_front_matter_markdown_becomes_document_units(mixed_folder):
    units = [u for u in load_folder(mixed_folder, source="kb").units if u.law == "关于做好高校毕业生就业工作的通知"]
    assert units, "front-matter document loaded"
    u = units[0]
    assert (u.level, u.issuer, u.region, u.doc_number) == ("政策", "济南市人力资源和社会保障局", "济南市", "济人社字〔2024〕5号")
    assert (u.published, u.valid_to) == ("2024-03-01", "2025-12-31")
    assert u.source == "kb"
    assert u.article == ""
    heads = [x.heading_path for x in units]
    assert any("总体要求" in h for h in heads) and any("一次性补贴" in h for h in heads)
    assert any("一次性求职创业补贴" in x.text for x in units)
    assert "title" not in u.extra  # metadata went to fields, not lost in extra


def test_folder_loader_loads_a_duplicate_once(tmp_path, corpus_sample, sample_files):
    for sub in ("司法解释/高法司法解释", "司法解释/司法解释_高法司法解释"):
        (tmp_path / sub).mkdir(parents=True)
        shutil.copyfile(corpus_sample / sample_files["guarantee"], tmp_path / sub / "x.md")
    loaded = load_folder(tmp_path)
    assert len(loaded.units) == len({u.uid for u in loaded.units}) == 71


def test_folder_loader_collects_repeals(corpus_sample):
    loaded = load_folder(corpus_sample)
    key = ("司法解释", norm_title("最高人民法院关于适用《中华人民共和国担保法》若干问题的解释"))
    assert key in loaded.repeals
    repeal = loaded.repeals[key]
    assert repeal.on.isoformat() == "2021-01-01"
    assert repeal.by == "最高人民法院关于废止部分司法解释及相关规范性文件的决定"
    assert not loaded.skipped


@pytest.mark.parametrize("text", ["---\ntitle: [unclosed\n---\nbody", "---\n- a\n- b\n---\nbody", "---\ntitle: x\n"])
def test_bad_front_matter(text):
    with pytest.raises(LoadError):
        front_matter(text)


def test_front_matter_dates_become_iso():
    meta, body = front_matter("---\npublished: 2024-03-01\ntitle: 通知\n---\n正文")
    assert meta == {"published": "2024-03-01", "title": "通知"}
    assert body == "正文"
    assert front_matter("正文") is None


def test_lawsdb_drops_the_next_parts_heading_glued_to_an_article():
    # laws.db ends 民法典第二百零四条 with the headings of the part after it
    assert lawsdb.article_text("但是法律另有规定或者当事人另有约定的除外。\n第二编 物 权\n第一分编 通 则") \
        == "但是法律另有规定或者当事人另有约定的除外。"
    assert lawsdb.article_text("留置权消灭。\n第五分编 占 有\n") == "留置权消灭。"
    # the closing part's heading, and a heading that lists what its part covers
    assert lawsdb.article_text("应当承担侵权责任。\n附 则") == "应当承担侵权责任。"
    assert lawsdb.article_text("兄弟姊妹。\n第二编 立案、侦查和提起公诉") == "兄弟姊妹。"
    # an article's own paragraph that begins with a chapter reference is the article's text
    text = "第一款。\n第三章规定的期限，适用本条。"
    assert lawsdb.article_text(text) == text
