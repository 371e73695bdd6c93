"""A deployment's region (FARUN_REGION): region chains, the region of local regulations, other
regions left out of the default search but reachable by filter, local-first ranking that leaves
national law where it governs, and what a deployer sees (labels, stats)."""
from __future__ import annotations

import dataclasses

import pytest

from bot import cli, region
from bot.config import Settings
from bot.retrieval.search import Filters, KnowledgeBase
from bot.sources.markdown import load_file
from ui.render import article_markdown, hits_html

HOME = "山东省济南市历下区"
PROPERTY = "山东省物业管理条例"
CIVIL_CODE = "中华人民共和国民法典"


@pytest.fixture(scope="module")
def plain(region_settings, embedder) -> KnowledgeBase:
    """The region index without FARUN_REGION: every region searched, no preference."""
    return KnowledgeBase.open(region_settings, embedder=embedder)


@pytest.fixture(scope="module")
def home(region_settings, embedder) -> KnowledgeBase:
    """The same index opened by a deployment in 济南市历下区."""
    return KnowledgeBase.open(dataclasses.replace(region_settings, region=HOME), embedder=embedder)


def regions_of(hits) -> set[str]:
    return {h.unit.region for h in hits}


# ---- chains ------------------------------------------------------------------------------

@pytest.mark.parametrize("text, chain", [
    ("山东省济南市历下区", ["山东省", "济南市", "历下区"]),
    ("北京市朝阳区", ["北京市", "朝阳区"]),  # 直辖市: no city between the province level and the district
    ("济南市市中区", ["济南市", "市中区"]),  # a district whose name starts with 市
    ("新疆维吾尔自治区伊犁哈萨克自治州伊宁市", ["新疆维吾尔自治区", "伊犁哈萨克自治州", "伊宁市"]),
    ("内蒙古自治区锡林郭勒盟", ["内蒙古自治区", "锡林郭勒盟"]),
    ("黑龙江省大兴安岭地区", ["黑龙江省", "大兴安岭地区"]),
    ("吉林市", ["吉林市"]),  # a city named like its province
    ("Jinan", None), ("山东省济南", None), ("", None),
])
def test_chain_parsing(text, chain):
    assert region.split(text) == chain


def test_within_and_named():
    home = region.parse_home(HOME)
    assert region.within(("山东省",), home) and region.within(("山东省", "济南市"), home)
    assert region.within(("全国",), home) and region.within(("济南市",), home)
    assert not region.within(("山东省", "青岛市"), home) and not region.within(("江苏省", "南京市"), home)
    assert region.named_in("在济南养狗要登记吗", home) and region.named_in("山东的物业条例", home)
    assert not region.named_in("养狗要登记吗", home)


@pytest.mark.parametrize("value", ["Jinan", "济南市", "山东省济南", "历下区"])
def test_bad_region_is_refused_with_the_reason(value, monkeypatch, capsys):
    with pytest.raises(ValueError, match="FARUN_REGION 无法识别"):
        Settings.load({"FARUN_REGION": value})
    monkeypatch.setenv("FARUN_REGION", value)
    assert cli.main(["stats"]) == 2
    err = capsys.readouterr().err
    assert "FARUN_REGION 无法识别" in err and "山东省济南市历下区" in err and "Traceback" not in err


def test_unset_region_is_no_region():
    assert Settings.load({}).home_region == []
    assert Settings.load({"FARUN_REGION": HOME}).home_region == ["山东省", "济南市", "历下区"]


# ---- the region of a local regulation ----------------------------------------------------

@pytest.mark.parametrize("path, chain", [
    ("山东/济南市文明养犬管理条例(2021-07-29).md", ["山东省", "济南市"]),
    ("山东/青岛市养犬管理条例(2016-05-26).md", ["山东省", "青岛市"]),
    ("山东/山东省物业管理条例(2021-12-03).md", ["山东省"]),
    ("江苏/南京市养犬管理条例(2020-11-27).md", ["江苏省", "南京市"]),
])
def test_local_regulation_region_from_title_and_header(region_corpus, path, chain):
    units = load_file(region_corpus / "地方性法规" / path).units
    assert {u.region for u in units} == {chain[-1]}
    assert all(u.extra["region_chain"] == chain for u in units)


def test_region_from_header_when_the_title_names_none(tmp_path):
    path = tmp_path / "地方性法规" / "山东" / "烟台葡萄酒产区保护条例(2020-11-27).md"
    path.parent.mkdir(parents=True)
    path.write_text("# 烟台葡萄酒产区保护条例\n\n2020年10月28日 烟台市第十七届人民代表大会常务委员会第三十次会议通过\n\n"
                    "<!-- INFO END -->\n\n第一条 为了保护葡萄酒产区，制定本条例。\n", encoding="utf-8")
    [u] = load_file(path).units
    assert (u.region, u.extra["region_chain"]) == ("烟台市", ["山东省", "烟台市"])  # the province from the folder


# ---- what the search returns -------------------------------------------------------------

def test_without_region_every_region_is_searched(plain):
    assert "南京市" in regions_of(plain.search("养狗要办登记证吗", k=5))


def test_other_regions_are_left_out_by_default(home):
    for question in ("养狗要办登记证吗", "遛狗要拴绳吗", "狗伤了人养狗的人怎么办"):
        assert regions_of(home.search(question, k=20)).isdisjoint({"南京市", "青岛市"}), question


@pytest.mark.parametrize("names, allowed", [
    (["青岛市"], {"青岛市"}),
    (["江苏省"], {"南京市"}),  # a province's filter reaches its cities
    (["山东省"], {"山东省", "济南市", "青岛市"}),
])
def test_a_filter_reaches_other_regions(home, names, allowed):
    hits = home.search("养犬管理", k=30, filters=Filters(region=names))
    assert hits and regions_of(hits) <= allowed
    assert regions_of(hits) & (allowed - {"山东省"})


def test_a_named_article_of_another_region_is_found(home):
    [hit] = home.article("青岛市养犬管理条例", 1)
    assert hit.unit.region == "青岛市"


def test_local_question_ranks_local_regulation_first(plain, home):
    question = "物业费涨价业主能拒交吗"
    assert home.search(question, k=1)[0].unit.law == PROPERTY
    assert plain.search(question, k=1)[0].unit.law != PROPERTY  # without the region, national law leads
    stage = home.rerank_stage
    prior, stage.local_prior = stage.local_prior, 0.0
    try:
        assert home.search(question, k=1)[0].unit.law != PROPERTY  # it is the prior that lifts it
    finally:
        stage.local_prior = prior


def test_national_question_keeps_its_ranking(plain, home):
    question = "狗咬伤了人，养狗的人要赔偿吗"
    ranked = [h.unit.uid for h in home.search(question, k=5)]
    assert ranked == [h.unit.uid for h in plain.search(question, k=5)]
    assert home.search(question, k=1)[0].unit.law == CIVIL_CODE


# ---- what a deployer sees ----------------------------------------------------------------

def test_local_regulation_is_labelled_with_its_region(home):
    hits = home.search("在济南过年能放鞭炮吗", k=3)
    assert hits[0].unit.region == "济南市"
    assert "地方性法规 · 济南市" in hits_html(hits, "放鞭炮")
    assert "地方性法规 · 济南市" in article_markdown(hits[0].unit, [])
    national = home.search("公司不签劳动合同怎么办", k=1)
    assert "地方性法规" not in hits_html(national, "劳动合同")


def test_stats_show_region_and_units_by_level_and_region(plain, home):
    stats = home.stats()
    assert stats["region"] == HOME and plain.stats()["region"] == ""
    assert stats["units_by_level"]["地方性法规"] == sum(n for r, n in stats["units_by_region"].items() if r != "全国")
    assert {"全国", "山东省", "济南市", "青岛市", "南京市"} <= set(stats["units_by_region"])


def test_cli_shows_region(region_settings, usem3, monkeypatch, capsys):
    from bot.retrieval import search

    monkeypatch.setattr(search, "load_embeddings", lambda name, threads=2: usem3)  # the session's model
    variables = {"FARUN_REGION": HOME, "FARUN_TODAY": "2026-11-29", "FARUN_DATA_DIR": str(region_settings.data_dir)}
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("FARUN_CONFIG", raising=False)
    index = ["--index-dir", str(region_settings.index_dir)]
    assert cli.main([*index, "stats"]) == 0
    out = capsys.readouterr().out
    assert f"region: {HOME}" in out and "units_by_region:" in out and "  济南市: " in out
    assert cli.main([*index, "search", "在济南过年能放鞭炮吗", "--k", "1"]) == 0
    assert "〔地方性法规 · 济南市·现行有效〕" in capsys.readouterr().out
