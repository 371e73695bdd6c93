"""Accounts and logins: the one password and session mechanism of FaRun.

Two roles: `admin` (the 管理 tab, publishing cards, the demand list, accounts) and `adviser` (a grid
legal adviser: the 顾问工作台 and the tickets of the grids the account covers). Residents stay
anonymous. Accounts live in the records database (table `accounts`, bot.records); only a salted
scrypt hash of each password is kept, and no account has a default password: `python -m bot users
add NAME --role adviser --grids 1-5` asks for one (or reads --password-file / FARUN_NEW_PASSWORD).
The admin of FARUN_ADMIN_USER / FARUN_ADMIN_PASSWORD (bot.admin.AdminAuth) is hashed and checked
the same way and logs in through the same `Accounts.login`.

A login is a `Session` with a random token that expires Settings.admin_session_minutes after it
was made (the web page keeps it in its state, the API takes it as `Authorization: Bearer`).
Sessions live in the records database (table `sessions`, by the SHA-256 of the token, never the
token), so a login made on one worker process holds on every other and survives a restart until
it expires; expiry is wall-clock time, the one clock all processes share.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass, field

from ..config import Settings

ROLES = ("admin", "adviser")
WEAK_PASSWORDS = {"", "admin", "administrator", "password", "passw0rd", "123456", "12345678", "123456789",
                  "changeme", "change-me", "farun", "farun123", "admin123", "password123", "secret", "qwerty"}
MIN_PASSWORD = 8
MAX_GRID = 100_000
_NAME = re.compile(r"^[\w\u4e00-\u9fff.\-]{2,40}$")


class AccountError(ValueError):
    """An account request that is refused; `status` is the HTTP status it maps to."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def hash_password(password: str, salt: bytes) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=2 ** 14, r=8, p=1, dklen=32)


def new_hash(password: str) -> tuple[bytes, bytes]:
    """(salt, digest) of a new password."""
    salt = secrets.token_bytes(16)
    return salt, hash_password(password, salt)


def same_password(password: str | None, salt: bytes, digest: bytes) -> bool:
    if password is None or not salt or not digest:
        return False
    return hmac.compare_digest(hash_password(password, salt), digest)


def password_problem(user: str, password: str) -> str:
    """Why a password cannot be used (empty, a default or common one, the user name, too short); "" if it can."""
    if not password:
        return "没有设置密码"
    if password.lower() in WEAK_PASSWORDS or password.lower() == (user or "").lower():
        return "是默认或常见密码（或与用户名相同），请换一个不易猜到的密码"
    if len(password) < MIN_PASSWORD:
        return f"至少需要 {MIN_PASSWORD} 个字符"
    return ""


def session_seconds() -> float:
    """How long a login lasts (Settings.admin_session_minutes, read at each login)."""
    return 60 * Settings.load().admin_session_minutes


def parse_grids(text: str | list | tuple | None) -> list[int]:
    """Grid numbers from "1-5", "1-5,8,10-12", "1 2 3" or a list of numbers: sorted, unique."""
    if text is None:
        return []
    parts = [str(p) for p in text] if isinstance(text, (list, tuple, set, frozenset)) else \
        [p for p in re.split(r"[,，、;；\s]+", str(text)) if p]
    out: set[int] = set()
    for part in parts:
        m = re.fullmatch(r"(\d{1,6})\s*(?:[-~～至到]\s*(\d{1,6}))?", part.strip())
        if not m:
            raise AccountError(f"网格 {part!r} 无效：应写作 1-5 或 1,3,8")
        a, b = int(m.group(1)), int(m.group(2) or m.group(1))
        if not 1 <= a <= b <= MAX_GRID:
            raise AccountError(f"网格范围 {part!r} 无效（网格编号从 1 开始，起点不能大于终点）")
        if b - a > 5000:
            raise AccountError(f"网格范围 {part!r} 过大")
        out.update(range(a, b + 1))
    return sorted(out)


def grids_text(grids) -> str:
    """[1, 2, 3, 5] as "1-3,5"."""
    grids, runs = sorted(grids or []), []
    for g in grids:
        if runs and g == runs[-1][1] + 1:
            runs[-1][1] = g
        else:
            runs.append([g, g])
    return ",".join(f"{a}-{b}" if b > a else str(a) for a, b in runs)


@dataclass(frozen=True)
class Session:
    token: str = field(repr=False)
    name: str
    role: str
    grids: frozenset = frozenset()  # the grids an adviser covers; an admin sees every grid
    expires: float = 0.0  # Unix time (time.time())

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def covers(self, grid: int) -> bool:
        return self.is_admin or grid in self.grids

    def to_json(self) -> dict:
        return {"name": self.name, "role": self.role, "grids": sorted(self.grids),
                "expires_in": max(0, int(self.expires - time.time()))}


class Sessions:
    """Login tokens → Session, expiring, kept in the records database (shared by every worker)."""

    def __init__(self, records):
        self.records = records

    def new(self, name: str, role: str, grids=()) -> Session:
        now = time.time()
        s = Session(secrets.token_urlsafe(24), name, role, frozenset(grids), now + session_seconds())
        self.records.add_session(s.token, s.name, s.role, s.grids, s.expires, now)
        return s

    def get(self, token: str | None) -> Session | None:
        row = self.records.session(token, time.time()) if token else None
        return None if row is None else Session(token, row["name"], row["role"], frozenset(row["grids"]), row["expires"])

    def drop(self, token: str | None) -> None:
        if token:
            self.records.drop_sessions(token=token)

    def drop_user(self, name: str) -> None:
        self.records.drop_sessions(name=name)


class Accounts:
    """The accounts of the records database, plus the configured admin (`env_admin`, an
    AdminAuth or anything with `enabled`, `user` and `check(user, password)`)."""

    def __init__(self, records, env_admin=None):
        self.records = records
        self.env_admin = env_admin
        self.sessions = Sessions(records)

    # ---- managing ------------------------------------------------------------------------
    def add(self, name: str, role: str, password: str, grids=None) -> dict:
        name = (name or "").strip()
        if not _NAME.match(name):
            raise AccountError("用户名应为 2–40 个字母、数字、汉字或 . _ -")
        if role not in ROLES:
            raise AccountError(f"角色只能是 {'、'.join(ROLES)}")
        if self.env_admin is not None and name == getattr(self.env_admin, "user", None):
            raise AccountError(f"用户名 {name} 已是配置的管理员（FARUN_ADMIN_USER）", 409)
        if problem := password_problem(name, password):
            raise AccountError(f"密码{problem}")
        grids = parse_grids(grids)
        if role == "adviser" and not grids:
            raise AccountError("法律顾问账号需要负责的网格，如 --grids 1-5")
        salt, digest = new_hash(password)
        if not self.records.add_account(name, role, grids, salt, digest):
            raise AccountError(f"用户名 {name} 已存在", 409)
        return self.get(name)

    def get(self, name: str) -> dict | None:
        row = self.records.account(name)
        return None if row is None else _public(row)

    def list(self, role: str | None = None) -> list[dict]:
        return [_public(r) for r in self.records.accounts() if role is None or r["role"] == role]

    def set_password(self, name: str, password: str) -> None:
        if problem := password_problem(name, password):
            raise AccountError(f"密码{problem}")
        salt, digest = new_hash(password)
        if not self.records.update_account(name, salt=salt, digest=digest):
            raise AccountError(f"没有用户 {name}", 404)
        self.sessions.drop_user(name)

    def set_grids(self, name: str, grids) -> dict:
        if not self.records.update_account(name, grids=parse_grids(grids)):
            raise AccountError(f"没有用户 {name}", 404)
        self.sessions.drop_user(name)
        return self.get(name)

    def set_active(self, name: str, active: bool) -> dict:
        if not self.records.update_account(name, active=int(bool(active))):
            raise AccountError(f"没有用户 {name}", 404)
        if not active:
            self.sessions.drop_user(name)
        return self.get(name)

    def any_admin(self) -> bool:
        """Whether anybody can log in as admin (the configured one or an active admin account)."""
        return bool(self.env_admin is not None and self.env_admin.enabled) or \
            any(a["role"] == "admin" and a["active"] for a in self.list())

    def covering(self, grid: int) -> list[str]:
        """The active advisers whose grids include `grid`."""
        return [a["name"] for a in self.list("adviser") if a["active"] and grid in a["grids"]]

    # ---- logging in ----------------------------------------------------------------------
    def check(self, name: str | None, password: str | None) -> dict | None:
        """The account (name, role, grids) these credentials open, or None."""
        if name is None or password is None:
            return None
        env = self.env_admin
        if env is not None and env.enabled and hmac.compare_digest(name.encode(), env.user.encode()):
            return {"name": env.user, "role": "admin", "grids": [], "active": True} if env.check(name, password) else None
        row = self.records.account(name)
        if row is None:
            hash_password(password, b"0" * 16)  # the same work either way: no timing tells names apart
            return None
        if not same_password(password, row["salt"], row["digest"]) or not row["active"]:
            return None
        return _public(row)

    def login(self, name: str | None, password: str | None, role: str | None = None) -> Session | None:
        """A session for these credentials (of `role`, when given), or None."""
        account = self.check(name, password)
        if account is None or (role is not None and account["role"] != role):
            return None
        return self.sessions.new(account["name"], account["role"], account["grids"])

    def session(self, token: str | None) -> Session | None:
        return self.sessions.get(token)

    def logout(self, token: str | None) -> None:
        self.sessions.drop(token)


def _public(row: dict) -> dict:
    return {"name": row["name"], "role": row["role"], "grids": list(row["grids"]), "active": bool(row["active"]),
            "created": row.get("created", "")}
