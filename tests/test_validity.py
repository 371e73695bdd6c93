"""Validity from dates as of a day: versions, source labels, repeals, expiry."""
from __future__ import annotations

from datetime import date

import pytest

from bot.validity import status_on
from bot.units import CURRENT, EXPIRED, PENDING, REPEALED, SUPERSEDED, Unit
from bot.validity import Repeal, Version, apply_validity, load_overrides, parse_date, resolve_versions
from bot.lawnames import norm_title

D = date.fromisoformat


def trademark_pair() -> list[Version]:
    # As laws.db has them: the 2019 text labelled 历史版本, the 2026 one labelled 现行有效
    # although it only takes effect on 2027-01-01 (effective_date of the 2019 row is the 1983 original).
    return [
        Version("tm2019", published=D("2019-04-23"), effective=D("1983-03-01"), source_status="历史版本"),
        Version("tm2026", published=D("2026-06-26"), effective=D("2027-01-01"), source_status="现行有效"),
    ]


def test_trademark_before_new_version_starts():
    v = resolve_versions(trademark_pair(), D("2026-11-29"))
    assert v["tm2019"].status == CURRENT
    assert v["tm2019"].valid_from == "2019-04-23"
    assert v["tm2019"].valid_to == "2027-01-01"
    assert "2027-01-01" in v["tm2019"].note
    assert v["tm2026"].status == PENDING
    assert v["tm2026"].valid_from == "2027-01-01"
    assert "2027-01-01" in v["tm2026"].note


def test_trademark_after_new_version_starts():
    v = resolve_versions(trademark_pair(), D("2027-02-01"))
    assert v["tm2026"].status == CURRENT
    assert v["tm2019"].status == SUPERSEDED
    assert v["tm2019"].valid_to == "2027-01-01"


def test_new_version_in_force_on_its_first_day():
    v = resolve_versions(trademark_pair(), D("2027-01-01"))
    assert (v["tm2019"].status, v["tm2026"].status) == (SUPERSEDED, CURRENT)


def test_amended_label_is_current_with_note():
    v = resolve_versions([Version("xf", D("2020-12-26"), D("1997-10-01"), "已被修改")], D("2026-11-29"))
    assert v["xf"].status == CURRENT
    assert "已被修改" in v["xf"].note
    assert v["xf"].valid_to == ""


def test_single_current_version_has_no_note():
    v = resolve_versions([Version("ld", D("2012-12-28"), D("2008-01-01"), "现行有效")], D("2026-11-29"))
    assert v["ld"] == type(v["ld"])(CURRENT, "2012-12-28", "", "")


def test_source_repealed_label_wins():
    v = resolve_versions([Version("hb", D("2014-04-24"), D("2015-01-01"), "已废止")], D("2026-11-29"))
    assert v["hb"].status == REPEALED
    assert v["hb"].note


def test_repeal_by_decision_with_date():
    versions = [Version("db", D("2000-12-08"), D("2000-12-13"), "", repealed_on=D("2021-01-01"))]
    before = resolve_versions(versions, D("2020-06-01"))
    after = resolve_versions(versions, D("2021-01-01"))
    assert before["db"].status == CURRENT
    assert before["db"].valid_to == "2021-01-01"
    assert after["db"].status == REPEALED
    assert after["db"].valid_to == "2021-01-01"
    assert after["db"].valid_from == "2000-12-13"


def test_policy_past_expiry_is_expired():
    versions = [Version("p", D("2024-01-01"), D("2024-01-01"), "", expires=D("2025-12-31"))]
    assert resolve_versions(versions, D("2025-12-31"))["p"].status == CURRENT  # last day still valid
    late = resolve_versions(versions, D("2026-01-01"))["p"]
    assert late.status == EXPIRED
    assert late.valid_to == "2025-12-31"


def test_not_yet_effective_single_version():
    v = resolve_versions([Version("n", D("2026-10-01"), D("2027-03-01"))], D("2026-11-29"))
    assert v["n"].status == PENDING


def test_undated_version_is_current():
    assert resolve_versions([Version("u", None, None)], D("2026-11-29"))["u"].status == CURRENT


def _unit(doc_id: str, law: str, level: str, published: str, valid_from: str = "", valid_to: str = "",
          source_status: str = "") -> Unit:
    return Unit(uid=doc_id + "-1", law=law, text="…", level=level, source="t", doc_id=doc_id, article="第一条",
                article_no=1, published=published, valid_from=valid_from, valid_to=valid_to,
                source_status=source_status)


def test_apply_validity_groups_versions_by_title_and_level():
    units = [
        _unit("a", "中华人民共和国商标法", "法律", "2019-04-23", "1983-03-01", source_status="历史版本"),
        _unit("b", "中华人民共和国商标法", "法律", "2026-06-26", "2027-01-01", source_status="现行有效"),
        _unit("c", "中华人民共和国商标法", "法律", "2026-06-26", "2027-01-01"),
    ]
    units[2].uid, units[2].doc_id = "b-2", "b"  # a second article of the 2026 text
    apply_validity(units, D("2026-11-29"))
    assert [u.status for u in units] == [CURRENT, PENDING, PENDING]
    assert units[0].valid_to == "2027-01-01"


def test_apply_validity_repeal_decision_only_touches_its_level():
    title = "最高人民法院关于适用《中华人民共和国担保法》若干问题的解释"
    units = [
        _unit("i", title, "司法解释", "2000-12-08", "2000-12-13"),
        _unit("law", "中华人民共和国担保法", "法律", "1995-06-30", "1995-10-01"),
    ]
    repeals = {("司法解释", norm_title(title)): Repeal(D("2021-01-01"), "最高人民法院关于废止部分司法解释及相关规范性文件的决定"),
               ("司法解释", norm_title("中华人民共和国担保法")): Repeal(D("2021-01-01"), "x")}
    apply_validity(units, D("2026-11-29"), repeals)
    assert units[0].status == REPEALED
    assert units[0].valid_to == "2021-01-01"
    assert "废止依据" in units[0].status_note and "废止部分司法解释" in units[0].status_note
    assert units[1].status == CURRENT  # a 司法解释 decision never repeals a 法律


def test_apply_validity_text_reissued_after_repeal_is_not_repealed():
    title = "最高人民法院关于审理某类案件适用法律若干问题的解释"
    units = [_unit("old", title, "司法解释", "2003-01-01"), _unit("new", title, "司法解释", "2022-03-01")]
    apply_validity(units, D("2026-11-29"), {("司法解释", norm_title(title)): Repeal(D("2021-01-01"), "决定")})
    assert units[0].status == REPEALED
    assert units[1].status == CURRENT


def test_apply_validity_repeal_without_date():
    title = "某某规定"
    units = [_unit("x", title, "司法解释", "2003-01-01")]
    apply_validity(units, D("2026-11-29"), {("司法解释", norm_title(title)): Repeal(None, "决定")})
    assert units[0].status == REPEALED


def test_apply_validity_policy_expiry():
    units = [_unit("p", "关于做好高校毕业生就业工作的通知", "政策", "2024-03-01", "2024-03-01", "2025-12-31")]
    apply_validity(units, D("2026-11-29"))
    assert units[0].status == EXPIRED
    # valid_to of a statute is not an expiry date
    law = [_unit("l", "某某条例", "行政法规", "2024-03-01", "2024-03-01", "2025-12-31")]
    apply_validity(law, D("2026-11-29"))
    assert law[0].status == CURRENT


def test_overrides_file_is_well_formed():
    overrides = load_overrides()
    assert overrides, "bot/data/validity_overrides.json lists at least one documented correction"
    for (level, title), repeal in overrides.items():
        assert level in ("宪法", "法律", "行政法规", "司法解释", "地方性法规", "政策")
        assert title == norm_title(title) and repeal.by


@pytest.mark.parametrize(
    "text, expected",
    [("2021-01-01", date(2021, 1, 1)), ("2021年1月1日施行", date(2021, 1, 1)), ("2021.1.1", date(2021, 1, 1)),
     ("自2021年2月30日", None), ("", None), (None, None), ("no date", None)],
)
def test_parse_date(text, expected):
    assert parse_date(text) == expected


# ---- status_on: the status a built unit has on another day ----------------------------------

def test_status_on_pending_comes_into_force():
    assert status_on(PENDING, "2027-01-01", "", "", "2026-12-31") == PENDING
    assert status_on(PENDING, "2027-01-01", "", "", "2027-01-01") == CURRENT


def test_status_on_current_is_superseded_when_successor_starts():
    assert status_on(CURRENT, "2019-04-23", "2027-01-01", SUPERSEDED, "2026-12-31") == CURRENT
    assert status_on(CURRENT, "2019-04-23", "2027-01-01", SUPERSEDED, "2027-01-01") == SUPERSEDED


def test_status_on_leaves_final_states_alone():
    for s in (REPEALED, SUPERSEDED, EXPIRED):
        assert status_on(s, "2000-01-01", "2001-01-01", "", "2030-01-01") == s
    assert status_on(CURRENT, "2000-01-01", "", "", "2100-01-01") == CURRENT


def test_status_on_agrees_with_resolve_versions_for_the_trademark_pair():
    # Expiring policies and announced repeals are checked end to end in
    # test_index.py::test_policy_status_moves_with_the_day / test_announced_repeal_status_moves_with_the_day.
    built = resolve_versions(trademark_pair(), D("2026-11-29"))
    later = resolve_versions(trademark_pair(), D("2027-02-01"))
    for key, v in built.items():
        assert status_on(v.status, v.valid_from, v.valid_to, v.ends_as, "2027-02-01") == later[key].status

