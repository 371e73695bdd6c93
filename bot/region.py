"""Regions as chains of administrative names: 山东省济南市历下区 → [山东省, 济南市, 历下区].

A deployment names its region (FARUN_REGION) as such a chain, from the provincial level down; a
unit's region is a shorter chain (a provincial regulation [山东省], a city's [山东省, 济南市], a
policy card's [济南市]). A unit belongs to a deployment's region when every name of its chain is
one of the deployment's: the province's and the city's regulations serve a district, another
city's do not. National texts are 全国 and belong everywhere.
"""
from __future__ import annotations

import re

NATIONAL = "全国"

# The provincial-level divisions, each with the short form texts use (山东 in 山东第十二届人民代表大会,
# in the folder 山东地方法规). The four 直辖市 are provincial too: 北京市朝阳区 has no city level between.
PROVINCES = {
    "北京市": "北京", "天津市": "天津", "上海市": "上海", "重庆市": "重庆",
    "河北省": "河北", "山西省": "山西", "辽宁省": "辽宁", "吉林省": "吉林", "黑龙江省": "黑龙江",
    "江苏省": "江苏", "浙江省": "浙江", "安徽省": "安徽", "福建省": "福建", "江西省": "江西",
    "山东省": "山东", "河南省": "河南", "湖北省": "湖北", "湖南省": "湖南", "广东省": "广东",
    "海南省": "海南", "四川省": "四川", "贵州省": "贵州", "云南省": "云南", "陕西省": "陕西",
    "甘肃省": "甘肃", "青海省": "青海", "台湾省": "台湾",
    "内蒙古自治区": "内蒙古", "广西壮族自治区": "广西", "西藏自治区": "西藏", "宁夏回族自治区": "宁夏",
    "新疆维吾尔自治区": "新疆", "香港特别行政区": "香港", "澳门特别行政区": "澳门",
}
# below the provinces: 市, 自治州, 地区, 盟 (prefectures); 区, 县, 自治县, 旗, 自治旗, 县级市 (counties).
# Longest suffixes first, so that 自治州 is not read as a name ending in 州.
_SUFFIXES = ("自治州", "自治县", "自治旗", "地区", "盟", "市", "州", "区", "县", "旗")
_SEGMENT = re.compile(r"[\u4e00-\u9fa5]+?(?:" + "|".join(_SUFFIXES) + ")")


def split(text: str) -> list[str] | None:
    """The names of a region written as one chain (山东省济南市历下区, 北京市朝阳区, 济南市), or None
    when the text is not one. Provincial names are recognised in full only: a short form would
    take 吉林市 for 吉林省 followed by a lone 市."""
    text = re.sub(r"\s+", "", text or "")
    province = next((name for name in PROVINCES if text.startswith(name)), None)
    if province:
        rest = _segments(text[len(province):])
        return [province, *rest] if rest is not None else None
    return _segments(text) or None


def _segments(text: str) -> list[str] | None:
    """`text` cut into names each ending in an administrative suffix, every character used;
    the shortest first name that lets the rest be cut too (市中区 stays whole, 济南市市中区 is
    [济南市, 市中区])."""
    if not text:
        return []
    for end in range(2, len(text) + 1):
        head = text[:end]
        if _SEGMENT.fullmatch(head) and (rest := _segments(text[end:])) is not None:
            return [head, *rest]
    return None


def parse_home(text: str) -> list[str]:
    """A deployment's region (FARUN_REGION) as a chain; ValueError with a message in Chinese when
    it is not a chain that starts at the provincial level."""
    chain = split(text)
    if not chain or chain[0] not in PROVINCES:
        raise ValueError(f"FARUN_REGION 无法识别：{text!r}。请从省级写起，写全行政区划名称，"
                         f"如 山东省济南市历下区、北京市朝阳区")
    return chain


def chain_of(region: str) -> tuple[str, ...]:
    """A unit's region as a chain: its names (济南市历下区 → 济南市, 历下区), the text itself when it
    is not a chain of names (西部地区 of a policy card, 全国), nothing when empty."""
    if not region:
        return ()
    return tuple(split(region) or (region,))


def within(chain: tuple[str, ...] | list[str], home: list[str]) -> bool:
    """Whether a unit of `chain` is law in the deployment region `home`: national, or every name
    of its chain one of home's."""
    return bool(chain) and (tuple(chain) == (NATIONAL,) or all(name in home for name in chain))


def province_in(text: str) -> str | None:
    """The first provincial name a text mentions, in full or short form (山东第十二届… → 山东省)."""
    found = [(text.find(form), full) for full, short in PROVINCES.items() for form in (full, short) if form in text]
    return min(found)[1] if found else None


def is_province(name: str) -> bool:
    return name in PROVINCES


def short_names(name: str) -> tuple[str, ...]:
    """How a question may name a region: 济南市 or 济南, 山东省 or 山东, 历下区 or 历下."""
    if name in PROVINCES:
        return name, PROVINCES[name]
    for suffix in _SUFFIXES:
        if name.endswith(suffix) and len(name) - len(suffix) >= 2:
            return name, name[: -len(suffix)]
    return (name,)


def named_in(question: str, home: list[str]) -> bool:
    """Whether the question names a place of the deployment's chain (济南的养犬规定, 山东省物业…)."""
    return any(form in question for name in home for form in short_names(name))

