"""A folder's metadata table: `metadata.csv`, one row per file, with the fields the pages of
flk.npc.gov.cn (国家法律法规数据库) show beside each download.

    文件,标题,制定机关,法律性质,时效性,公布日期,施行日期
    济南市文明养犬管理条例.docx,济南市文明养犬管理条例,济南市人民代表大会常务委员会,地方性法规,有效,2021-10-29,2022-01-01

Only 文件 is required; dates may be written 2021-10-29 or 2021年10月29日; 法律性质 becomes the
level when it is one FaRun knows; 时效性 is the source's label (已废止 / 失效 make the document
已废止 for `bot.validity`; 有效, 已修改, 尚未生效 are kept, the dates decide). UTF-8 or GBK (as
Excel saves it). The values become the document's metadata (`documents.load_document`'s meta).
"""
from __future__ import annotations

import csv
import io
from pathlib import Path

from ..units import LEVELS, REPEALED, iso
from ..validity import parse_date
from . import LoadError, read_text

FILE = "metadata.csv"
_COLUMNS = {"标题": "title", "制定机关": "issuer", "法律性质": "level", "时效性": "source_status",
            "公布日期": "published", "施行日期": "valid_from"}
_REPEALED = ("已废止", "失效", "废止")


def read_table(path: Path) -> dict[str, dict]:
    """File name -> metadata (Unit field names) of one metadata.csv; LoadError for a bad table."""
    rows = list(csv.DictReader(io.StringIO(read_text(path))))
    if rows and "文件" not in rows[0]:
        raise LoadError(f"{FILE} 缺少“文件”列（表头应为：文件,{','.join(_COLUMNS)}）")
    out = {}
    for n, row in enumerate(rows, start=2):
        name = (row.get("文件") or "").strip()
        if not name:
            continue
        meta = {}
        for column, key in _COLUMNS.items():
            value = (row.get(column) or "").strip()
            if not value:
                continue
            if key in ("published", "valid_from"):
                day = parse_date(value)
                if day is None:
                    raise LoadError(f"{FILE} 第{n}行：{column}“{value}”不是日期（写成 2021-10-29 或 2021年10月29日）")
                value = iso(day)
            elif key == "level" and value not in LEVELS:
                continue  # 监察法规、部门规章 …: the loader's own level stands
            elif key == "source_status" and value in _REPEALED:
                value = REPEALED
            meta[key] = value
        out[name] = meta
    return out
