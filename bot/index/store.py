"""SQLite store for unit text and metadata, with schema migrations.

Row ids are the ids the dense and sparse indexes use, so a search result maps back to its unit
with one primary-key lookup. Callers ask with verbs (`unit`, `units_of_doc`, `units_at_level`,
`upload_doc_ids`, `next_id` …), never with SQL. Opened `as_of` a day, every unit it returns
carries its status on that day (`validity.status_on`), not the one computed at build time.
"""
from __future__ import annotations

import copy
import json
import sqlite3
from datetime import date
from pathlib import Path

from ..lawnames import norm_title
from ..migrations import migrate
from ..units import Unit
from ..validity import DayValidity, Stored, status_on

# Each entry upgrades the schema by one version (bot.migrations: PRAGMA user_version records how far a file is).
MIGRATIONS = [
    """
    CREATE TABLE units (
        id INTEGER PRIMARY KEY,
        uid TEXT UNIQUE NOT NULL,
        law TEXT NOT NULL, law_norm TEXT NOT NULL, article TEXT, article_no INTEGER, sub_no INTEGER,
        chapter TEXT, heading_path TEXT, level TEXT, source TEXT, doc_id TEXT, issuer TEXT,
        region TEXT, status TEXT, status_note TEXT, source_status TEXT, published TEXT,
        valid_from TEXT, valid_to TEXT, doc_number TEXT, position INTEGER, text TEXT NOT NULL,
        aliases TEXT, extra TEXT, tokens TEXT
    );
    CREATE INDEX units_article ON units(law_norm, article_no);
    CREATE INDEX units_doc ON units(doc_id, position);
    """,
    "ALTER TABLE units ADD COLUMN ends_as TEXT;",
]

_COLUMNS = [c for c in Unit.__dataclass_fields__ if c != "uid"]  # sub_no and ends_as are columns too


class UnitStore:
    def __init__(self, path: Path, readonly: bool = False, as_of: date | None = None):
        self.path = path
        self.as_of = as_of.isoformat() if as_of else None
        self.validity: dict[str, DayValidity] | None = None  # set on a view for another day (`on`)
        uri = f"file:{path}?mode=ro" if readonly else f"file:{path}"
        self.con = sqlite3.connect(uri, uri=True, check_same_thread=False)
        self.con.row_factory = sqlite3.Row
        if not readonly:
            migrate(self.con, MIGRATIONS)

    def add(self, units: list[Unit], tokens: list[list[str]], first_id: int) -> list[int]:
        ids = list(range(first_id, first_id + len(units)))
        self.con.executemany(
            "INSERT INTO units (id, uid, law, law_norm, article, article_no, sub_no, chapter, heading_path,"
            " level, source, doc_id, issuer, region, status, status_note, source_status, published,"
            " valid_from, valid_to, doc_number, position, text, aliases, extra, tokens, ends_as)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [
                (i, u.uid, u.law, norm_title(u.law), u.article, u.article_no, u.sub_no,
                 u.chapter, u.heading_path, u.level, u.source, u.doc_id, u.issuer, u.region, u.status,
                 u.status_note, u.source_status, u.published, u.valid_from, u.valid_to, u.doc_number,
                 u.position, u.text, json.dumps(u.aliases, ensure_ascii=False),
                 json.dumps(u.extra, ensure_ascii=False), " ".join(t), u.ends_as)
                for i, u, t in zip(ids, units, tokens)
            ],
        )
        self.con.commit()
        return ids

    def remove_docs(self, doc_ids: list[str]) -> list[int]:
        marks = ",".join("?" * len(doc_ids))
        ids = [r[0] for r in self.con.execute(f"SELECT id FROM units WHERE doc_id IN ({marks})", doc_ids)]
        self.con.execute(f"DELETE FROM units WHERE doc_id IN ({marks})", doc_ids)
        self.con.commit()
        return ids

    def copy_to(self, other: "UnitStore") -> None:
        """Every row of this store into `other` (an online backup: `other` is replaced)."""
        self.con.backup(other.con)

    def to_unit(self, row: sqlite3.Row) -> Unit:
        """The unit of a row, with its status on the store's day (`as_of`) when it has one."""
        data = {c: row[c] for c in _COLUMNS if c not in ("aliases", "extra")}
        data["uid"] = row["uid"]
        data["aliases"] = json.loads(row["aliases"] or "[]")
        data["extra"] = json.loads(row["extra"] or "{}")
        if self.validity is not None and (v := self.validity.get(row["doc_id"])) is not None:
            data.update(status=v.status, valid_from=v.valid_from, valid_to=v.valid_to, status_note=v.note,
                        ends_as=v.ends_as)
        elif self.as_of:
            data["status"] = status_on(row["status"], row["valid_from"], row["valid_to"], row["ends_as"], self.as_of)
        return Unit(**data)

    def on(self, validity: dict[str, DayValidity]) -> "UnitStore":
        """A view of this store (same connection) whose units carry the validity given per
        document (`validity.Timeline.on`): the store as read on another day."""
        view = copy.copy(self)
        view.validity = validity
        return view

    def stored_validity(self) -> list[Stored]:
        """Each document's validity as stored at build time (one row per document)."""
        rows = self.con.execute(
            "SELECT doc_id, law_norm, level, published, status, valid_from, valid_to, ends_as, status_note"
            " FROM units GROUP BY doc_id")
        return [Stored(r["doc_id"], r["law_norm"], r["level"], r["published"] or "", r["status"] or "",
                       r["valid_from"] or "", r["valid_to"] or "", r["ends_as"] or "", r["status_note"] or "")
                for r in rows]

    def _units(self, sql: str, params=()) -> list[Unit]:
        return [self.to_unit(r) for r in self.con.execute(sql, params)]

    def get(self, ids: list[int]) -> dict[int, Unit]:
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self.con.execute(f"SELECT * FROM units WHERE id IN ({marks})", [int(i) for i in ids])
        return {r["id"]: self.to_unit(r) for r in rows}

    def unit(self, uid: str) -> Unit | None:
        """A unit by its stable id (`Unit.uid`)."""
        found = self._units("SELECT * FROM units WHERE uid = ?", (uid,))
        return found[0] if found else None

    def units(self) -> list[Unit]:
        """Every unit, in id order."""
        return self._units("SELECT * FROM units ORDER BY id")

    def units_of_doc(self, doc_id: str) -> list[Unit]:
        """The units of one document, in their order inside it."""
        return self._units("SELECT * FROM units WHERE doc_id = ? ORDER BY position", (doc_id,))

    def units_at_level(self, level: str) -> list[Unit]:
        """Every unit of one level (e.g. 政策), document by document, each in order."""
        return self._units("SELECT * FROM units WHERE level = ? ORDER BY doc_id, position", (level,))

    def by_doc(self, doc_ids: list[str]) -> dict[int, Unit]:
        """The units of these documents by row id (the id their vectors are stored under)."""
        if not doc_ids:
            return {}
        marks = ",".join("?" * len(doc_ids))
        rows = self.con.execute(f"SELECT * FROM units WHERE doc_id IN ({marks}) ORDER BY doc_id, position", doc_ids)
        return {r["id"]: self.to_unit(r) for r in rows}

    def doc_ids_from(self, source: str) -> list[str]:
        """The documents that came from one source (Unit.source, e.g. sync:Laws-DLC-山东地方法规)."""
        return [r[0] for r in self.con.execute("SELECT DISTINCT doc_id FROM units WHERE source = ?", (source,))]

    def upload_doc_ids(self) -> list[str]:
        """The documents that came from uploads (source upload:<file>)."""
        return [r[0] for r in self.con.execute("SELECT DISTINCT doc_id FROM units WHERE source LIKE 'upload:%'")]

    def next_id(self) -> int:
        """The id the next added unit gets: one past the largest."""
        return (self.con.execute("SELECT MAX(id) FROM units").fetchone()[0] or -1) + 1

    def find_article(self, law_norms: list[str], article_no: int, sub_no: int | None) -> list[tuple[int, Unit]]:
        if not 0 < article_no < 100_000 or (sub_no or 0) >= 100:  # no statute has such numbers
            return []
        marks = ",".join("?" * len(law_norms))
        rows = self.con.execute(
            f"SELECT * FROM units WHERE law_norm IN ({marks}) AND article_no = ? AND IFNULL(sub_no, 0) = ?",
            [*law_norms, article_no, sub_no or 0],
        )
        return [(r["id"], self.to_unit(r)) for r in rows]

    def neighbours(self, uid: str, before: int = 1, after: int = 1) -> list[Unit]:
        """The unit (by `Unit.uid`) and the `before`/`after` units around it in its document."""
        row = self.con.execute("SELECT doc_id, position FROM units WHERE uid = ?", (uid,)).fetchone()
        if row is None:
            return []
        return self._units("SELECT * FROM units WHERE doc_id = ? AND position BETWEEN ? AND ? ORDER BY position",
                           (row["doc_id"], row["position"] - before, row["position"] + after))

    def columns(self, *names: str) -> list[tuple]:
        """Selected columns of every unit in id order: what the in-memory filters are built from."""
        return self.con.execute(f"SELECT id, {', '.join(names)} FROM units ORDER BY id").fetchall()

    def count(self) -> int:
        return self.con.execute("SELECT COUNT(*) FROM units").fetchone()[0]

    def close(self) -> None:
        self.con.close()
