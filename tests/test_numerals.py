"""Chinese numerals as statutes write them."""
from __future__ import annotations

import pytest

from bot.numerals import article_key, article_label, cn_to_int, int_to_cn, parse_article


def test_round_trip_1_to_1300():
    for n in range(1, 1301):
        cn = int_to_cn(n)
        assert cn_to_int(cn) == n, (n, cn)


@pytest.mark.parametrize(
    "n, cn",
    [(1, "一"), (10, "十"), (13, "十三"), (20, "二十"), (82, "八十二"), (100, "一百"), (101, "一百零一"),
     (110, "一百一十"), (120, "一百二十"), (1000, "一千"), (1001, "一千零一"), (1010, "一千零一十"),
     (1079, "一千零七十九"), (1260, "一千二百六十")],
)
def test_statute_convention(n, cn):
    assert int_to_cn(n) == cn
    assert cn_to_int(cn) == n


@pytest.mark.parametrize("text, n", [("两百", 200), ("〇", 0), ("二十三", 23), ("一万", 10000), ("一万零一", 10001)])
def test_other_spellings(text, n):
    assert cn_to_int(text) == n


@pytest.mark.parametrize("text, n", [("1079", 1079), ("82", 82), (" 7 ", 7), ("０８２", 82)])
def test_arabic_digits(text, n):
    assert cn_to_int(text) == n


@pytest.mark.parametrize("text", ["", "   ", "abc", "第十", "十条", "1O"])
def test_not_a_number(text):
    assert cn_to_int(text) is None


@pytest.mark.parametrize(
    "text, expected",
    [
        ("第十条之一", (10, 1)),
        ("第一百三十三条之一", (133, 1)),
        ("第一百二十条之二", (120, 2)),
        ("第 82 条", (82, None)),
        ("依照民法典第1079条的规定", (1079, None)),
        ("第一千零七十九条", (1079, None)),
        ("第133条之1", (133, 1)),
    ],
)
def test_parse_article(text, expected):
    assert parse_article(text) == expected


def test_parse_article_none():
    assert parse_article("没有条文编号") is None
    assert parse_article("第条") is None


def test_label_and_key():
    assert article_label(1079) == "第一千零七十九条"
    assert article_label(10, 1) == "第十条之一"
    assert article_key(120, 1) == "120-1"
    assert article_key(82) == "82"
    assert article_key(None) == ""
    assert parse_article(article_label(133, 1)) == (133, 1)
