"""The district's grids (网格): which communities they belong to and what they are called.

The list comes from a YAML or JSON file named by Settings.grids_file (FARUN_GRIDS_FILE); which
adviser covers which grid is part of each adviser account (`--grids 1-5`, bot.loop.accounts).
Without a file the grids are those the active advisers cover, called 第N网格. Format
(docs/grids.example.yaml):

    district: 青禾区
    communities:
      - name: 青禾社区
        grids: 1-5              # or [1, 2, 3], or a list of {id, name}
      - name: 东湖社区
        grids:
          - {id: 6, name: 东湖社区第一网格}
          - 7

A grid number appears once in the whole file; a file that does not fit raises GridsError
naming the entry.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from .accounts import AccountError, parse_grids


class GridsError(ValueError):
    pass


@dataclass(frozen=True)
class Grid:
    id: int
    name: str
    community: str = ""

    @property
    def label(self) -> str:
        return self.name if not self.community or self.community in self.name else f"{self.community} · {self.name}"


class Grids:
    def __init__(self, grids: list[Grid], district: str = "", configured: bool = True):
        self.district = district
        self.configured = configured  # False: made up from the advisers' grids, no file
        self.by_id = {g.id: g for g in sorted(grids, key=lambda g: g.id)}

    def __contains__(self, grid_id) -> bool:
        return grid_id in self.by_id

    def __len__(self) -> int:
        return len(self.by_id)

    def get(self, grid_id: int) -> Grid | None:
        return self.by_id.get(grid_id)

    def label(self, grid_id: int) -> str:
        g = self.by_id.get(grid_id)
        return g.label if g else f"第{grid_id}网格"

    def choices(self) -> list[tuple[str, int]]:
        """(label, id) for a picker, in grid order."""
        return [(g.label, g.id) for g in self.by_id.values()]

    def to_json(self) -> dict:
        return {"district": self.district, "configured": self.configured,
                "grids": [{"id": g.id, "name": g.name, "community": g.community} for g in self.by_id.values()]}

    @classmethod
    def from_advisers(cls, grid_ids) -> "Grids":
        return cls([Grid(i, f"第{i}网格") for i in sorted(set(grid_ids))], configured=False)

    @classmethod
    def from_data(cls, data, where: str = "grids") -> "Grids":
        if not isinstance(data, dict) or not isinstance(data.get("communities"), list):
            raise GridsError(f"{where}: 需要 communities 列表（每项有 name 和 grids）")
        grids: dict[int, Grid] = {}
        for i, c in enumerate(data["communities"], 1):
            if not isinstance(c, dict) or not str(c.get("name") or "").strip():
                raise GridsError(f"{where}: 第 {i} 个社区缺少 name")
            name = str(c["name"]).strip()
            entries = c.get("grids")
            items: list[tuple[int, str]] = []
            try:
                if isinstance(entries, (str, int)):
                    items = [(g, "") for g in parse_grids(str(entries))]
                elif isinstance(entries, list) and entries:
                    for e in entries:
                        if isinstance(e, dict):
                            [gid] = parse_grids(str(e.get("id", "")))
                            items.append((gid, str(e.get("name") or "").strip()))
                        else:
                            items += [(g, "") for g in parse_grids(str(e))]
                else:
                    raise GridsError(f"{where}: 社区 {name} 的 grids 缺失或为空")
            except (AccountError, ValueError) as exc:
                if isinstance(exc, GridsError):
                    raise
                raise GridsError(f"{where}: 社区 {name} 的网格编号无效：{exc}") from exc
            for gid, gname in items:
                if gid in grids:
                    raise GridsError(f"{where}: 网格 {gid} 重复（{grids[gid].community} 与 {name}）")
                grids[gid] = Grid(gid, gname or f"第{gid}网格", name)
        if not grids:
            raise GridsError(f"{where}: 没有网格")
        return cls(list(grids.values()), str(data.get("district") or "").strip())

    @classmethod
    def load(cls, path: Path) -> "Grids":
        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise GridsError(f"{path}: 读不到网格配置文件（{exc}）") from exc
        except yaml.YAMLError as exc:
            raise GridsError(f"{path}: 不是有效的 YAML/JSON：{exc}") from exc
        return cls.from_data(data, str(path))
