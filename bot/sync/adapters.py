"""Where a sync's files come from: a git repository of statutes, or a folder of documents.

Each adapter makes the source's new files available in a folder (`fetch`), then either keeps
them as the source's synced folder (`keep`, after the index was updated) or puts the previous
state back (`undo`, after a failure or a dry run):

* `GitSource` — a repository in the LawRefBook/Laws layout (`名称(YYYY-MM-DD).md`, articles as
  lines `第X条 …`) or the Bibliotheca one (`国家法律法规数据库/…`, articles as `###### 第一条`
  headings), by URL or local path. It is cloned once (partially: only the `--path` part is
  checked out, and over the network only its files are downloaded), fetched and checked out
  afterwards, with the git command line. A failed first clone is thrown away; a failed update
  checks the previous commit out again.
* `FolderSource` — a local folder (e.g. DOCX/PDF downloaded from flk.npc.gov.cn with their
  metadata table, see bot/sources/metadata.py): its files are copied into the synced folder, so
  the index can be rebuilt from what was synced even after the folder changes or goes away.
"""
from __future__ import annotations

import hashlib
import os
import re
import secrets
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from ..sources import LoadError, read_text
from ..sources.markdown import INFO_END

GIT_TIMEOUT = 1800  # seconds for one git command: the first clone of a large repository is slow
_REMOTE = re.compile(r"^(?:(?:https?|ssh|git|file)://|[\w.-]+@[\w.-]+:)")
_LINE_ARTICLE = re.compile(r"^第[零一二三四五六七八九十百千万\d]+条(?:之[一二三四五六七八九十]+)?\s")
LAYOUT_HELP = ("LawRefBook/Laws（文件名“名称(YYYY-MM-DD).md”，条文为“第X条 …”行）或 Bibliotheca"
               "（国家法律法规数据库/…，条文为“###### 第一条”标题），两者都以 <!-- INFO END --> 结束文件头")


class SyncError(Exception):
    """A source that cannot be synced; the message says why and what to do."""


@dataclass
class Snapshot:
    folder: Path  # where the new files are (the synced folder itself, or a staged one beside it)
    revision: str  # the commit, or a hash over the files' hashes
    layout: str  # LawRefBook | Bibliotheca | folder
    files: dict[str, str] = field(default_factory=dict)  # folder sources: relative path -> sha1


def _hidden(rel: Path) -> bool:
    return any(part.startswith(".") for part in rel.parts)


def _name(text: str) -> str:
    """A folder name for a source: path separators and characters shells dislike become '-'."""
    return re.sub(r"[\s/\\:*?\"<>|]+", "-", text).strip("-.") or "source"


def is_git(location: str) -> bool:
    """A git URL (https://, ssh://, git@host:…) or a local folder that is a repository."""
    return bool(_REMOTE.match(location)) or (Path(location) / ".git").exists()


def _git(*args: str | Path) -> str:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}  # never wait for a password (cron has no terminal)
    try:
        done = subprocess.run(["git", *map(str, args)], capture_output=True, text=True, env=env, timeout=GIT_TIMEOUT)
    except FileNotFoundError as exc:
        raise SyncError("找不到 git 命令：请先安装 git（apt-get install git）") from exc
    except subprocess.TimeoutExpired as exc:
        raise SyncError(f"git {args[0]} 超过 {GIT_TIMEOUT} 秒未完成：请检查网络后重试") from exc
    if done.returncode:
        detail = " ".join((done.stderr or done.stdout).strip().splitlines()[-3:])
        verb = next((a for a in map(str, args) if not a.startswith("-") and "/" not in a), "")
        raise SyncError(f"git {verb} 失败：{detail or f'退出码 {done.returncode}'}")
    return done.stdout.strip()


def _repo(folder: Path, *args: str | Path) -> str:
    """git on the clone in `folder`, named explicitly: a clone missing its HEAD must fail, not
    have git look further up and act on whatever repository contains the data directory."""
    return _git("--git-dir", folder / ".git", "--work-tree", folder, *args)


def detect_layout(selection: Path, shown: str) -> str:
    """LawRefBook or Bibliotheca, from the first statute file of the selection."""
    if not selection.is_dir():
        raise SyncError(f"仓库中没有目录 {shown}：请核对 --path（区分大小写，例如 DLC/山东地方法规）")
    for f in sorted(selection.rglob("*.md")):
        if _hidden(f.relative_to(selection)) or f.name.upper() == "README.MD":
            continue
        try:
            lines = [ln.strip() for ln in read_text(f).split("\n")]
        except LoadError:
            continue
        if not any(INFO_END.match(ln) for ln in lines):
            continue
        if any(ln.startswith("###### 第") for ln in lines):
            return "Bibliotheca"
        if any(_LINE_ARTICLE.match(ln) for ln in lines):
            return "LawRefBook"
    raise SyncError(f"{shown} 不是已知的法规仓库格式：没有找到 {LAYOUT_HELP} 的文件")


class GitSource:
    kind = "git"

    def __init__(self, location: str, path: str, base: Path):
        local = not _REMOTE.match(location)
        self.location = str(Path(location).resolve()) if local else location
        self.path = path.strip("/")
        repo = re.sub(r"\.git$", "", self.location.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1])
        self.name = _name("-".join(filter(None, [repo, self.path.replace("/", "-")])))
        self.base, self.dest = base, base / self.name
        self._remote = not local
        self._previous: str | None = None  # the commit checked out before this sync
        self._fresh: Path | None = None  # a first clone, until kept

    def fetch(self) -> Snapshot:
        self.base.mkdir(parents=True, exist_ok=True)
        if self.dest.exists():
            self._check_checkout()
            self._previous = _repo(self.dest, "rev-parse", "HEAD")
            _repo(self.dest, "fetch", "--quiet", "origin", "HEAD")
            _repo(self.dest, "checkout", "--quiet", "--force", "--detach", "FETCH_HEAD")
            folder = self.dest
        else:
            folder = self._fresh = self.base / f".{self.name}.clone-{secrets.token_hex(3)}"
            _git("clone", "--quiet", "--no-checkout", *(["--filter=blob:none"] if self._remote else []),
                 "--", self.location, folder)
            if self.path:  # only the part asked for is checked out (and, over the network, downloaded)
                _repo(folder, "sparse-checkout", "set", "--no-cone", f"/{self.path}/")
            _repo(folder, "checkout", "--quiet")
        revision = _repo(folder, "rev-parse", "HEAD")
        shown = self.path or self.location
        return Snapshot(folder, revision, detect_layout(folder / self.path if self.path else folder, shown))

    def _check_checkout(self) -> None:
        """The synced clone is whole and is a clone of this source."""
        git_dir = self.dest / ".git"
        again = f"删除 {self.dest} 后重新同步即可从头克隆"
        if not git_dir.is_dir():
            raise SyncError(f"{self.dest} 不是完整的 git 克隆（缺少 .git）：{again}")
        locks = sorted(p.name for p in git_dir.glob("*.lock"))
        if locks:
            raise SyncError(f"{self.dest} 留有未完成的 git 操作的锁文件（{'、'.join(locks)}）：如果没有别的同步正在运行，"
                            f"删除 {git_dir}/{locks[0]} 后重试")
        try:
            _repo(self.dest, "rev-parse", "--verify", "--quiet", "HEAD")
            origin = _repo(self.dest, "config", "--get", "remote.origin.url")
        except SyncError as exc:
            raise SyncError(f"{self.dest} 的克隆不完整（{exc}）：{again}") from exc
        if origin != self.location:
            raise SyncError(f"{self.dest} 是 {origin} 的克隆，不是 {self.location}：同名来源已存在，请删除该目录或换用其他来源")

    def keep(self) -> None:
        if self._fresh is not None:
            os.replace(self._fresh, self.dest)
            self._fresh = None

    def undo(self) -> None:
        if self._fresh is not None:
            shutil.rmtree(self._fresh, ignore_errors=True)
            self._fresh = None
        elif self._previous:
            # best effort: the error being handled is the one to report; a tree left ahead of the
            # index is compared against the index again by the next sync
            try:
                _repo(self.dest, "checkout", "--quiet", "--force", "--detach", self._previous)
            except SyncError:
                pass


class FolderSource:
    kind = "folder"

    def __init__(self, location: str, path: str, base: Path):
        self.source = (Path(location) / path).resolve() if path else Path(location).resolve()
        self.location, self.path = str(Path(location).resolve()), path.strip("/")
        self.name = _name(self.source.name)
        self.base, self.dest = base, base / self.name
        self._staging: Path | None = None

    def fetch(self) -> Snapshot:
        if not self.source.is_dir():
            raise SyncError(f"来源目录 {self.source} 不存在或不是目录（被移走、改名或未挂载？）：索引保持上次同步的内容")
        self.base.mkdir(parents=True, exist_ok=True)
        staging = self._staging = self.base / f".{self.name}.staging-{secrets.token_hex(3)}"
        files: dict[str, str] = {}
        for path in sorted(self.source.rglob("*")):
            rel = path.relative_to(self.source)
            if not path.is_file() or _hidden(rel):
                continue
            target = staging / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
            files[rel.as_posix()] = hashlib.sha1(target.read_bytes()).hexdigest()
        if not files:
            raise SyncError(f"来源目录 {self.source} 中没有文件")
        revision = hashlib.sha1("\n".join(f"{k} {v}" for k, v in files.items()).encode()).hexdigest()
        return Snapshot(staging, revision, "folder", files)

    def keep(self) -> None:
        if self._staging is None:
            return
        old = self.base / f".{self.name}.old-{secrets.token_hex(3)}"
        if self.dest.exists():
            os.replace(self.dest, old)
        os.replace(self._staging, self.dest)
        shutil.rmtree(old, ignore_errors=True)
        self._staging = None

    def undo(self) -> None:
        if self._staging is not None:
            shutil.rmtree(self._staging, ignore_errors=True)
            self._staging = None


def adapter_for(location: str, path: str, base: Path, kind_before=lambda location: None) -> GitSource | FolderSource:
    """The adapter for a SOURCE argument: git for URLs, repositories and locations synced as git
    before (a local repository that has gone is then reported by git), a folder otherwise (a
    folder that no longer exists is reported as such when fetched). `kind_before(location)`:
    how the resolved location was synced last."""
    local = str(Path(location).resolve()) if not _REMOTE.match(location) else location
    git = is_git(location) or kind_before(local) == GitSource.kind
    return GitSource(location, path, base) if git else FolderSource(location, path, base)
