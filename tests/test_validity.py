"""Validity from dates as of a day: versions, source labels, repeals, expiry."""
from __future__ import annotations

import json
import sqlite3
from datetime import date
from pathlib import Path

import pytest

from bot.validity import status_on
from bot.units import CURRENT, EXPIRED, PENDING, REPEALED, SUPERSEDED, Unit
from bot.validity import (Repeal, Restore, Version, apply_validity, load_overrides, load_restored, override_counts,
                          parse_date, resolve_versions)
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
    overrides, restored = load_overrides(), load_restored()
    assert overrides and restored, "bot/data/validity_overrides.json lists documented corrections of both kinds"
    for (level, title), entry in [*overrides.items(), *restored.items()]:
        assert level in ("宪法", "法律", "行政法规", "司法解释", "地方性法规", "政策")
        assert title == norm_title(title) and (entry.by if isinstance(entry, Repeal) else entry.reason and entry.evidence)
    assert not overrides.keys() & restored.keys(), "a document is either repealed or restored, not both"


# ---- a dated repeal explains the source's 已废止 label; a restore sets a wrong one aside --------

CODE = "《中华人民共和国生态环境法典》第一千二百四十二条"


def _env_law() -> list[Unit]:
    # as laws.db has it: labelled 已废止 although the code that repeals it starts on 2026-08-15
    return [_unit("hb", "中华人民共和国环境保护法", "法律", "2014-04-24", "2015-01-01", source_status="已废止")]


def test_law_repealed_by_a_code_not_yet_in_force_is_current_until_then():
    repeals = {("法律", norm_title("中华人民共和国环境保护法")): Repeal(D("2026-08-15"), CODE)}
    [before] = _env_law()
    apply_validity([before], D("2026-06-01"), repeals)
    assert (before.status, before.valid_to, before.ends_as) == (CURRENT, "2026-08-15", REPEALED)
    assert "2026-08-15" in before.status_note and CODE in before.status_note  # the pending successor is named
    assert status_on(before.status, before.valid_from, before.valid_to, before.ends_as, "2026-08-15") == REPEALED
    [after] = _env_law()
    apply_validity([after], D("2026-12-02"), repeals)
    assert (after.status, after.valid_to) == (REPEALED, "2026-08-15")
    assert CODE in after.status_note and "来源标注已废止" not in after.status_note


def test_restore_sets_a_wrong_repealed_label_aside():
    title = "中华人民共和国农村土地承包法"
    units = [_unit("tc", title, "法律", "2018-12-29", "2003-03-01", source_status="已废止")]
    restored = {("法律", norm_title(title)): Restore("未查到废止本法的法律或决定", ["法释〔2020〕17号按修正后的条文序号援引本法"])}
    apply_validity(units, D("2026-12-02"), restored=restored)
    u = units[0]
    assert (u.status, u.valid_from, u.valid_to) == (CURRENT, "2018-12-29", "")
    assert "未查到废止本法的法律或决定" in u.status_note and "法释〔2020〕17号" in u.status_note
    # without the override the label is followed
    plain = [_unit("tc", title, "法律", "2018-12-29", "2003-03-01", source_status="已废止")]
    apply_validity(plain, D("2026-12-02"))
    assert plain[0].status == REPEALED and plain[0].status_note == "来源标注已废止"


def test_repeal_wins_over_restore_of_the_same_document():
    key = ("法律", norm_title("某法"))
    units = [_unit("x", "某法", "法律", "2010-01-01", source_status="已废止")]
    apply_validity(units, D("2026-12-02"), {key: Repeal(D("2020-01-01"), "某决定")}, {key: Restore("r", ["e"])})
    assert units[0].status == REPEALED and "某决定" in units[0].status_note


def test_restore_only_touches_versions_labelled_repealed():
    title = "某某法"
    units = [_unit("old", title, "法律", "2010-01-01", source_status="历史版本"),
             _unit("new", title, "法律", "2020-01-01", source_status="已废止")]
    apply_validity(units, D("2026-12-02"), restored={("法律", norm_title(title)): Restore("理由", ["证据"])})
    assert [u.status for u in units] == [SUPERSEDED, CURRENT]
    assert "理由" not in units[0].status_note and "理由" in units[1].status_note


def test_restoring_override_on_a_laws_db_fixture(tmp_path):
    """The shipped override on a small laws.db with the source's schema: 农村土地承包法 第二十六至
    二十八条, labelled 已废止 there, come out 现行有效 with the override's reason."""
    from make_laws_db import make_laws_db
    from bot.sources import lawsdb

    db = make_laws_db(tmp_path / "laws.db", {"中华人民共和国农村土地承包法": "article_no_arabic BETWEEN 26 AND 28"})
    units = lawsdb.load(db)
    assert {u.source_status for u in units} == {REPEALED}
    apply_validity(units, D("2026-12-02"), load_overrides(), load_restored())
    assert {u.status for u in units} == {CURRENT}
    [reason] = [r.reason for k, r in load_restored().items() if k == ("法律", norm_title("中华人民共和国农村土地承包法"))]
    assert all(reason in u.status_note for u in units)
    assert [(o["kind"], o["units"]) for o in override_counts(units)] == [("restored", 3)]


def test_override_counts_reads_a_given_file(tmp_path):
    path = tmp_path / "overrides.json"
    path.write_text(json.dumps({"repealed": [{"level": "法律", "title": "甲法", "date": "2020-01-01", "reason": "r"}],
                                "restored": [{"level": "法律", "title": "乙法", "reason": "r", "evidence": ["e"]}]}),
                    encoding="utf-8")
    units = [_unit("a", "甲法", "法律", "2010-01-01"), _unit("a2", "甲法", "法律", "2021-01-01"),  # re-issued after
             _unit("b", "乙法", "法律", "2010-01-01", source_status="已废止"), _unit("c", "丙法", "法律", "2010-01-01")]
    assert [(o["kind"], o["title"], o["units"]) for o in override_counts(units, path)] == [
        ("repealed", "甲法", 1), ("restored", "乙法", 1)]
    assert set(load_restored(path)) == {("法律", "乙法")}


# ---- the status audit (bot/data/status_audit.json) against the installed laws.db ----------------

AUDIT = json.loads((Path(__file__).resolve().parents[1] / "bot" / "data" / "status_audit.json").read_text(encoding="utf-8"))


def _laws_db() -> sqlite3.Connection:
    from bot.sources.lawsdb import default_path

    path = default_path()
    if not path.exists():
        pytest.skip(f"laws.db not installed: {path}")
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    con.row_factory = sqlite3.Row
    return con


def _unexplained_labels(con: sqlite3.Connection) -> dict[str, str]:
    """Title -> label of every document whose latest version is labelled 已废止 or 历史版本 with no
    later version: the labels no version of the source itself explains."""
    latest: dict[str, sqlite3.Row] = {}
    for r in con.execute("SELECT law_name, publish_date, effective_date, status FROM laws "
                         "ORDER BY publish_date, effective_date"):
        latest[r["law_name"]] = r
    return {t: r["status"] for t, r in latest.items() if r["status"] in ("已废止", "历史版本")}


def test_status_audit_accounts_for_every_unexplained_label_in_laws_db():
    """Fails when laws.db gains (or loses) a document labelled 已废止 / 历史版本 with no later
    version: such a label must be audited (docs/status-audit.md) before it reaches users."""
    con = _laws_db()
    flagged = _unexplained_labels(con)
    audited = {e["title"]: e for e in AUDIT["entries"]}
    assert set(flagged) == set(audited), (
        f"not audited: {sorted(set(flagged) - set(audited))}; no longer in laws.db: {sorted(set(audited) - set(flagged))}")
    for title, label in flagged.items():
        assert audited[title]["source_label"] == label


@pytest.mark.parametrize("entry", AUDIT["entries"], ids=lambda e: e["title"][-12:])
def test_status_audit_entry_is_backed_by_override_or_reported(entry):
    key = (entry["level"], norm_title(entry["title"]))
    repeals, restored = load_overrides(), load_restored()
    assert entry["finding"] in ("repealed", "restored", "unexplained") and entry["explanation"] and entry["evidence"]
    if entry["finding"] == "repealed":
        # a dated repeal naming the act, and the act itself in laws.db saying so from that date
        assert entry["override"] == "repealed" and key in repeals
        assert repeals[key].on == D(entry["repealed_on"]) and entry["repealed_by"] in repeals[key].by
        con = _laws_db()
        act = con.execute("SELECT law_id, effective_date FROM laws WHERE law_name = ?", (entry["repealed_by"],)).fetchone()
        assert act and act["effective_date"] == entry["repealed_on"]
        [text] = con.execute("SELECT article_text FROM articles WHERE law_id = ? AND article_no = ?",
                             (act["law_id"], entry["provision"])).fetchone()
        assert f"《{entry['title']}》" in text and "废止" in text
    elif entry["finding"] == "restored":
        assert entry["override"] == "restored" and key in restored and key not in repeals
    else:  # reported, not guessed: the source's label stays
        assert entry["override"] == "" and key not in repeals and key not in restored


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

