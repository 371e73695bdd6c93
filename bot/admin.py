"""Administration: the admin login, uploaded documents (upload → parse → incremental index update →
remove), and `Service`, the one object the API and the web app share (settings, answer pipeline,
records, admin auth) that reopens the knowledge base after the index changed.

Uploads are kept under var/uploads/ and registered in bot.records, so they survive a restart and
are put back into a freshly built index (`Service.restore_uploads`).
"""
from __future__ import annotations

import hmac
import re
import secrets
import shutil
import stat
import threading
import time
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path, PurePosixPath

from .config import Settings
from .index import layout
from .index.builder import update
from .index.second import present as second_present
from .loop.accounts import MIN_PASSWORD, WEAK_PASSWORDS, Accounts, hash_password, new_hash, session_seconds
from .loop.grids import Grids
from .loop.tickets import TicketDesk, Throttle
from .records import Records
from .sources import LoadError
from .sources.knowledge import load_card, qa_markdown
from .sources.documents import SUPPORTED_SUFFIXES, load_document
from .sources.folder import load_file, override
from .units import LEVELS, POLICY_LEVEL, Unit

UPLOAD_SUFFIXES = SUPPORTED_SUFFIXES | {".md", ".zip"}
ZIP_MAX_MEMBERS = 200
ZIP_MAX_RATIO = 100  # uncompressed / compressed, per member (a bomb is thousands)
META_KEYS = ("title", "level", "issuer", "region", "doc_number", "published", "valid_from", "valid_to")
__all__ = ["MIN_PASSWORD", "WEAK_PASSWORDS", "AdminAuth", "Service", "UploadError", "session_seconds"]


class UploadError(LoadError):
    """An upload that is refused; `status` is the HTTP status it maps to (400, or 413 when too big)."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


# ---- admin login ---------------------------------------------------------------------------------
@dataclass
class AdminAuth:
    """Admin credentials from FARUN_ADMIN_USER / FARUN_ADMIN_PASSWORD; only a salted scrypt hash is
    kept. `enabled` is False (with the reason) when the password is empty, a default or too short.
    Hashing and sessions are those of every account (bot.loop.accounts); `Service.accounts` logs
    this admin in beside the admin and adviser accounts of the records database."""

    user: str = "admin"
    salt: bytes = b""
    digest: bytes = b""
    enabled: bool = False
    reason: str = ""

    @staticmethod
    def _hash(password: str, salt: bytes) -> bytes:
        return hash_password(password, salt)

    @classmethod
    def from_credentials(cls, user: str, password: str) -> "AdminAuth":
        user = (user or "admin").strip() or "admin"
        if not password:
            return cls(user, reason="管理功能未启用：没有设置管理员密码（环境变量 FARUN_ADMIN_PASSWORD）。")
        if password.lower() in WEAK_PASSWORDS or password.lower() == user.lower():
            return cls(user, reason="管理功能未启用：FARUN_ADMIN_PASSWORD 是默认或常见密码，请换一个不易猜到的密码。")
        if len(password) < MIN_PASSWORD:
            return cls(user, reason=f"管理功能未启用：FARUN_ADMIN_PASSWORD 至少需要 {MIN_PASSWORD} 个字符。")
        salt, digest = new_hash(password)
        return cls(user, salt, digest, True, "")

    @classmethod
    def from_settings(cls, settings: Settings) -> "AdminAuth":
        return cls.from_credentials(settings.admin_user, settings.admin_password)

    @classmethod
    def from_env(cls, env: dict | None = None) -> "AdminAuth":
        """From FARUN_ADMIN_USER / FARUN_ADMIN_PASSWORD (`Settings`) of the environment, or of `env`."""
        return cls.from_settings(Settings.load(env=env))

    def check(self, user: str, password: str) -> bool:
        if not self.enabled or user is None or password is None:
            return False
        same_user = hmac.compare_digest(user.encode("utf-8"), self.user.encode("utf-8"))
        return hmac.compare_digest(self._hash(password, self.salt), self.digest) and same_user


# ---- uploads -------------------------------------------------------------------------------------
def clean_meta(meta: dict | None) -> dict:
    """Upload metadata checked: a known level, ISO dates; empty values dropped."""
    out = {k: str(v).strip() for k, v in (meta or {}).items() if k in META_KEYS and v not in (None, "")}
    out = {k: v for k, v in out.items() if v}
    if "level" in out and out["level"] not in LEVELS:
        raise UploadError(f"层级 {out['level']!r} 无效：可选 {'、'.join(LEVELS)}")
    for key in ("published", "valid_from", "valid_to"):
        if key in out:
            try:
                out[key] = date.fromisoformat(out[key]).isoformat()
            except ValueError as exc:
                raise UploadError(f"日期 {key}={out[key]!r} 无效：请写成 YYYY-MM-DD") from exc
    if out.get("valid_from") and out.get("valid_to") and out["valid_to"] < out["valid_from"]:
        raise UploadError("失效日期早于施行日期")
    return out


def safe_name(name: str) -> str:
    """A file name without directories or characters a file system may choke on."""
    base = PurePosixPath(name.replace("\\", "/")).name
    base = re.sub(r"[\x00-\x1f<>:\"|?*]", "_", base).strip(" .")
    return base[:120] or "upload"


def safe_extract(archive: Path, dest: Path, max_total: int, max_member: int) -> tuple[list[Path], list[str]]:
    """Extract the supported files of a ZIP into dest. The whole archive is refused if any name is
    absolute or climbs out (..), is a link, or if sizes or compression ratios say it is a bomb.
    Returns (extracted files, names skipped as unsupported)."""
    if not zipfile.is_zipfile(archive):
        raise UploadError("不是有效的 ZIP 压缩包")
    try:
        z = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise UploadError(f"ZIP 压缩包已损坏（{exc}）") from exc
    with z:
        members = [i for i in z.infolist() if not i.is_dir()]
        if len(members) > ZIP_MAX_MEMBERS:
            raise UploadError(f"压缩包内文件过多（{len(members)} 个，上限 {ZIP_MAX_MEMBERS}）", 413)
        total = 0
        for info in members:
            name = info.filename.replace("\\", "/")
            parts = PurePosixPath(name).parts
            if name.startswith("/") or re.match(r"^[A-Za-z]:", name) or ".." in parts:
                raise UploadError(f"压缩包含有不安全的路径 {info.filename!r}（绝对路径或 ..），已拒绝整个压缩包")
            if stat.S_ISLNK(info.external_attr >> 16):
                raise UploadError(f"压缩包含有符号链接 {info.filename!r}，已拒绝整个压缩包")
            if info.file_size > max_member:
                raise UploadError(f"压缩包内文件 {info.filename!r} 过大（{info.file_size} 字节，上限 {max_member}）", 413)
            if info.file_size > 1 << 20 and info.file_size > ZIP_MAX_RATIO * max(info.compress_size, 1):
                raise UploadError(f"压缩包内文件 {info.filename!r} 压缩比异常（疑似压缩炸弹），已拒绝", 413)
            total += info.file_size
        if total > max_total:
            raise UploadError(f"压缩包解压后过大（{total} 字节，上限 {max_total}）", 413)
        dest.mkdir(parents=True, exist_ok=True)
        out, skipped, used = [], [], set()
        for info in members:
            suffix = PurePosixPath(info.filename).suffix.lower()
            if suffix not in UPLOAD_SUFFIXES - {".zip"} or PurePosixPath(info.filename).name.startswith("."):
                skipped.append(info.filename)
                continue
            name = safe_name(info.filename)
            while name.lower() in used:
                name = f"{Path(name).stem}_{secrets.token_hex(2)}{Path(name).suffix}"
            used.add(name.lower())
            target = dest / name
            written = 0
            with z.open(info) as src, target.open("wb") as f:  # sizes in the directory can lie: count
                while chunk := src.read(1 << 16):
                    written += len(chunk)
                    if written > info.file_size or written > max_member:
                        raise UploadError(f"压缩包内文件 {info.filename!r} 实际大小与声明不符，已拒绝", 413)
                    f.write(chunk)
            out.append(target)
    return out, skipped


def parse_file(path: Path, meta: dict, max_bytes: int) -> list[Unit]:
    """Units of one uploaded file, with the metadata given at upload; LoadError says why not."""
    source = f"upload:{path.name}"
    if path.suffix.lower() == ".md":
        units = load_file(path, source, max_bytes).units
        override(units, meta)  # metadata given at upload wins over what the file says
        if not units:
            raise LoadError("文档中没有可提取的文字")
        return units
    if path.suffix.lower() not in SUPPORTED_SUFFIXES:
        raise LoadError(f"不支持的文件类型：{path.suffix or '无扩展名'}（支持 DOCX、PDF、HTML、MD、TXT 及其 ZIP 压缩包）")
    return load_document(path, {"source": source, **meta}, max_bytes=max_bytes)


@dataclass
class Uploaded:
    doc_id: str
    title: str
    file: str
    units: list[Unit] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"doc_id": self.doc_id, "title": self.title, "file": self.file, "units": len(self.units),
                "preview": [{"unit_id": u.uid, "citation": u.citation, "chapter": u.chapter, "level": u.level,
                             "text": u.text[:200]} for u in self.units[:50]]}


# ---- the shared service --------------------------------------------------------------------------
class Service:
    """Settings, the answer pipeline (and with it the knowledge base), records and admin auth.

    The pipeline is None when the index cannot be opened; `error` says why and how to fix it.
    Index changes are serialised by the index's update lock (layout.writing: across threads and
    worker processes) and followed by a reload that swaps in a new pipeline, so requests in flight
    finish on the old one. A Service whose index another worker process changed reopens it at
    its next request (`pipeline` follows `current`).
    """

    def __init__(self, settings: Settings, pipeline=None, records: Records | None = None,
                 auth: AdminAuth | None = None, llm="env"):
        from .answer.composers.llm import LLMConfig

        self.settings = settings
        self.records = records or Records.open(settings)
        self.auth = auth or AdminAuth.from_env()
        self.accounts = Accounts(self.records, self.auth)  # admin and adviser logins, the configured admin too
        self.desk = TicketDesk(self.records, lambda: self.grids, lambda: self.kb)
        self.lookups = Throttle(settings.ticket_lookups, self.records, "lookup")  # ticket look-ups by code, per client
        self.error = ""
        self._reloading = threading.Lock()
        self._grids: tuple | None = None
        self._pipeline = pipeline
        self._llm = (LLMConfig.from_env() if pipeline is None else None) if llm == "env" else llm
        if pipeline is None:
            self.reload()

    @property
    def admin_enabled(self) -> bool:
        """Whether anybody can log in as admin: FARUN_ADMIN_PASSWORD or an admin account."""
        return self.accounts.any_admin()

    @property
    def admin_reason(self) -> str:
        return "" if self.admin_enabled else (self.auth.reason or "管理功能未启用：没有管理员账号") + \
            "（也可以用 python -m bot users add NAME --role admin 创建管理员账号）"

    @property
    def grids(self) -> Grids:
        """The district's grids (Settings.grids_file), or those the active advisers cover."""
        path = self.settings.grids_file
        if path is None:
            return Grids.from_advisers(g for a in self.accounts.list("adviser") if a["active"] for g in a["grids"])
        stamp = path.stat().st_mtime_ns if path.exists() else 0
        if self._grids is None or self._grids[0] != stamp:
            self._grids = (stamp, Grids.load(path))
        return self._grids[1]

    @property
    def uploads(self) -> Path:
        return self.records.data_dir / "uploads"

    @property
    def pipeline(self):
        self._follow_index()
        if self._pipeline is None:
            raise layout.IndexUnavailable(self.error or "索引不可用：请运行 python -m bot build")
        return self._pipeline

    @property
    def kb(self):
        return self.pipeline.kb

    @property
    def ready(self) -> bool:
        return self._pipeline is not None

    def _follow_index(self, wait: bool = False) -> None:
        """Reopen the knowledge base when `current` points elsewhere than the one being served (another
        worker process updated the index). One thread reopens; the others go on with the old one
        (wait=True: wait for it)."""
        if self._pipeline is None:
            return
        try:
            now = layout.current(self.settings.index_dir)
        except layout.IndexUnavailable:
            return
        if self._stale(now) and self._reloading.acquire(blocking=wait):
            try:
                if self._stale(now):
                    self.reload()
            finally:
                self._reloading.release()

    def _stale(self, current) -> bool:
        """Whether the served knowledge base is not the current index, or lacks vectors of the
        second encoder written for it since (bot.index.second)."""
        kb = self._pipeline.kb
        return current != kb.folder or second_present(current) != kb.second_present

    @contextmanager
    def _changing_index(self):
        """The index's update lock, with the knowledge base brought up to what is current under it."""
        with layout.writing(self.settings.index_dir):
            self._follow_index(wait=True)
            yield

    def reload(self) -> None:
        """Reopen the knowledge base at the current index (after an update), reusing the loaded model."""
        from .answer.pipeline import AnswerPipeline
        from .retrieval.search import KnowledgeBase

        old = self._pipeline.kb if self._pipeline is not None else None
        try:
            kb = KnowledgeBase.open(self.settings, embedder=old and old.embedder,
                                    second_embedder=old and old.second_embedder)
        except layout.IndexUnavailable as exc:
            self._pipeline, self.error = None, str(exc)
            return
        self._pipeline, self.error = AnswerPipeline(kb, self._llm), ""

    # ---- documents ------------------------------------------------------------------------------
    def upload(self, path: Path, filename: str | None = None, meta: dict | None = None) -> list[Uploaded]:
        """Save an uploaded file (or the supported files of a ZIP) under var/uploads/, parse it into
        units and add them to the index incrementally; a document uploaded again replaces itself."""
        meta = clean_meta(meta)
        filename = safe_name(filename or path.name)
        suffix = Path(filename).suffix.lower()
        if suffix not in UPLOAD_SUFFIXES:
            raise UploadError(f"不支持的文件类型：{suffix or '无扩展名'}（支持 DOCX、PDF、HTML、MD、TXT 及其 ZIP 压缩包）")
        size = path.stat().st_size
        limit = self.settings.max_file_bytes
        if size > limit:
            raise UploadError(f"文件过大（{size} 字节，上限 {limit}）", 413)
        folder = self.uploads / f"{datetime.now():%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"
        folder.mkdir(parents=True)
        try:
            if suffix == ".zip":
                files, _ = safe_extract(path, folder, max_total=limit * 4, max_member=limit)
                if not files:
                    raise UploadError("压缩包里没有支持的文件（DOCX、PDF、HTML、MD、TXT）")
                if len(files) > 1:
                    meta.pop("title", None)  # one title cannot name several documents
            else:
                files = [folder / filename]
                shutil.copyfile(path, files[0])
            docs = []
            for f in files:
                try:
                    units = parse_file(f, meta, limit)
                except LoadError as exc:
                    raise UploadError(f"{f.name}：{exc}") from exc
                docs.append(Uploaded(units[0].doc_id, units[0].law, str(f.relative_to(self.uploads)), units))
            self._apply(docs)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        for d in docs:
            u = d.units[0]
            self.records.register_document(d.doc_id, d.title, u.level, len(d.units), d.file, issuer=u.issuer,
                                           doc_number=u.doc_number, published=u.published,
                                           valid_from=u.valid_from, valid_to=u.valid_to)
        return docs

    def _apply(self, docs: list[Uploaded], remove: list[str] | None = None) -> None:
        units = [u for d in docs for u in d.units]
        with self._changing_index():
            kb = self.kb
            present = [d.doc_id for d in docs if self.doc_units(d.doc_id)]
            update(self.settings, add=units, remove_docs=present + (remove or []), embedder=kb.embedder)
            self.reload()

    def remove(self, doc_id: str) -> dict:
        """Take an uploaded document out of the index and the registry (its file is deleted too)."""
        doc = self.records.document(doc_id)
        if doc is None:
            raise KeyError(f"没有编号为 {doc_id} 的上传文件")
        with self._changing_index():
            if self.doc_units(doc_id):
                update(self.settings, remove_docs=[doc_id], embedder=self.kb.embedder)
                self.reload()
        self.records.unregister_document(doc_id)
        if doc["file"]:
            path = self.uploads / doc["file"]
            path.unlink(missing_ok=True)
            if path.parent != self.uploads and not any(path.parent.iterdir()):
                path.parent.rmdir()
        return doc

    def restore_uploads(self) -> int:
        """Make the index and the upload registry agree (on start): put registered uploads missing
        from the index back (after a full rebuild), and take uploaded documents the registry does
        not know out of the index (an upload killed between the index swap and its registration).
        Files such a killed upload saved are deleted. Returns how many documents were put back."""
        documents = self.records.documents()
        registered = {d["doc_id"] for d in documents}
        kept = {PurePosixPath(d["file"]).parts[0] for d in documents if d["file"]}
        if self.uploads.is_dir():
            for folder in self.uploads.iterdir():
                if folder.is_dir() and folder.name not in kept:
                    shutil.rmtree(folder, ignore_errors=True)
        orphans = [d for d in self.kb.store.upload_doc_ids() if d not in registered]
        if orphans:
            with self._changing_index():
                update(self.settings, remove_docs=orphans, embedder=self.kb.embedder)
                self.reload()
        docs = []
        for d in documents:
            if self.doc_units(d["doc_id"]):
                continue
            path = self.uploads / d["file"]
            meta = {k: d[k] for k in ("issuer", "doc_number", "published", "valid_from", "valid_to") if d[k]}
            meta |= {"title": d["title"], "level": d["level"]}
            try:
                units = parse_file(path, meta, self.settings.max_file_bytes)
            except (LoadError, OSError):
                continue
            docs.append(Uploaded(units[0].doc_id, units[0].law, d["file"], units))
        if docs:
            self._apply(docs)
        return len(docs)

    # ---- the advisers' cards ----------------------------------------------------------------------
    @property
    def cards_dir(self) -> Path:
        """Where published cards are kept (var/cards/, next to the database): card files like knowledge/'s."""
        return self.records.data_dir / "cards"

    def publish_card(self, card_id: int, reviewer: str):
        """Publish a draft card: validate it (reviewed_by = reviewer, reviewed_on = today), write its
        file under var/cards/, add its one unit to the index incrementally (nothing else is
        re-embedded) and reload. Returns (CardDraft, seconds from the request to searchable)."""
        start = time.perf_counter()
        with self._changing_index():
            card = self.desk.final_card(card_id, reviewer, self.settings.as_of)
            self.cards_dir.mkdir(parents=True, exist_ok=True)
            path = self.cards_dir / f"adviser-card-{card_id}.md"
            tmp = path.with_suffix(".tmp")
            tmp.write_text(qa_markdown(card), encoding="utf-8")
            tmp.replace(path)
            [unit] = self._card_units(path)
            try:
                update(self.settings, add=[unit], remove_docs=[unit.doc_id] if self.doc_units(unit.doc_id) else [],
                       embedder=self.kb.embedder)
            except BaseException:
                path.unlink(missing_ok=True)
                raise
            self.reload()
            draft = self.desk.mark_published(card_id, reviewer, card, doc_id=unit.doc_id, unit_id=unit.uid,
                                             file=path.name)
        return draft, time.perf_counter() - start

    @staticmethod
    def _card_units(path: Path) -> list[Unit]:
        units = load_card(path)
        for u in units:
            u.source = "cards"
        return units

    def restore_cards(self) -> int:
        """Put published cards missing from the index (after a full rebuild) back; returns how many."""
        missing = []
        for d in self.records.cards("published"):
            path = self.cards_dir / d["file"]
            if d["file"] and path.exists() and not self.doc_units(d["doc_id"]):
                try:
                    missing += self._card_units(path)
                except LoadError:
                    continue
        if missing:
            with self._changing_index():
                update(self.settings, add=missing, embedder=self.kb.embedder)
                self.reload()
        return len(missing)

    def doc_units(self, doc_id: str) -> list[Unit]:
        """The units of one document in the current index, in order, with today's status."""
        return self.kb.store.units_of_doc(doc_id)


def list_units(kb, level: str) -> list[Unit]:
    """Every unit of one level (e.g. 政策, for browsing), with the status computed for today."""
    return kb.store.units_at_level(level)


@dataclass
class PolicyList:
    """The policies the enterprise page lists: one unit per policy document, in order, and the
    issuers and regions of all of them (what its filters offer)."""

    rows: list[Unit]
    issuers: list[str]
    regions: list[str]


def browse_policies(kb, *, topic: str = "", issuer: str = "", region: str = "", statuses: list[str] | None = None,
                    words: str = "") -> PolicyList:
    """Policy documents (cards, compilation sections, uploaded policies: the first unit of each),
    filtered by topic, issuer (part of the name), region (exact), statuses (None: every status) and
    key words (ranked by search; no match, no rows), with today's status."""
    from .retrieval.search import Filters, QueryError

    docs: dict[str, Unit] = {}
    for u in list_units(kb, POLICY_LEVEL):
        docs.setdefault(u.doc_id, u)
    everything = list(docs.values())
    rows = everything
    if (words or "").strip():
        try:
            order = [h.unit.doc_id for h in kb.search(words, k=50, filters=Filters(level=[POLICY_LEVEL], status=["all"]))]
        except QueryError:
            order = []
        rank = {d: i for i, d in reversed(list(enumerate(order)))}
        rows = sorted((u for u in rows if u.doc_id in rank), key=lambda u: rank[u.doc_id])
    if topic:
        rows = [u for u in rows if (u.extra.get("topic") or "其他") == topic]
    if issuer:
        rows = [u for u in rows if issuer in u.issuer]
    if region:
        rows = [u for u in rows if u.region == region]
    if statuses is not None:
        rows = [u for u in rows if u.status in statuses]
    return PolicyList(rows, sorted({u.issuer for u in everything if u.issuer}),
                      sorted({u.region for u in everything if u.region}))


def policy_json(u: Unit) -> dict:
    """A policy as the API lists it: the unit (`unit_json`, with its interpretation and region),
    its topic, its own text apart from the interpretation, and where a compilation has it."""
    from .retrieval.search import unit_json

    out = unit_json(u) | {"topic": u.extra.get("topic") or "其他", "published": u.published,
                           "body": u.extra.get("body", "")}
    if u.extra.get("kind") == "compilation":
        out |= {"compilation": u.extra.get("compilation", ""), "section": u.extra.get("section"),
                "file": u.extra.get("file", "")}
    return out
