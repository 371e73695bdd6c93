"""One sync of one source: fetch, load with the corpus loaders, compare, update, record.

The serving index changes only through `bot.index.builder.update` (a new build folder swapped
in atomically), and the source's synced folder only after that update succeeded: a failure or an
interruption anywhere leaves the index serving exactly what it served, the synced folder as it
was, and a failed run in the record with its reason.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from ..config import Settings
from ..index import layout
from ..index.builder import update
from ..index.store import UnitStore
from ..sources import LoadError, synced
from ..validity import apply_validity, load_overrides, load_restored
from .adapters import SyncError, adapter_for
from .report import Changes, compare, render
from .state import Run, SyncLog, path_in


@dataclass
class Outcome:
    """What one sync did: the run as recorded and the report (None when it failed early)."""

    run: Run
    layout: str = ""
    changes: Changes | None = None
    dry_run: bool = False
    applied: bool = False
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {**self.run.brief(), "layout": self.layout, "dry_run": self.dry_run, "applied": self.applied,
                "report": self.changes.to_json() if self.changes else None}

    def text(self) -> str:
        name = synced.label(self.run.source)
        if self.changes is None:
            return f"{name}：同步失败：{self.run.message}"
        head = render(name, self.changes, self.dry_run)
        where = f"  来源 {self.run.location}{'（' + self.run.path + '）' if self.run.path else ''}，" \
                f"{self.layout} 格式，版本 {self.run.revision[:12]}"
        return "\n".join([head, where, *self.notes])


def _now() -> str:
    return datetime.now().isoformat(timespec="seconds")


def _indexed(settings: Settings, source: str):
    """The units the serving index holds from one source, with today's status."""
    store = UnitStore(layout.current(settings.index_dir) / layout.STORE, readonly=True, as_of=settings.as_of)
    try:
        return list(store.by_doc(store.doc_ids_from(source)).values())
    finally:
        store.close()


def sync(settings: Settings, location: str, path: str = "", dry_run: bool = False, embedder=None) -> Outcome:
    """Sync one source (a git URL or path, or a folder) into the serving index."""
    log = SyncLog(path_in(settings.data_dir))
    adapter = adapter_for(location, path, synced.root(settings.data_dir), log.kind_of)
    run = Run(adapter.name, adapter.kind, adapter.location, adapter.path, started=_now())
    outcome = Outcome(run, dry_run=dry_run)
    try:
        previous = log.last(adapter.name)
        if previous and previous.location != adapter.location:
            raise SyncError(f"来源名 {adapter.name} 已用于 {previous.location}：两个来源不能同名（请把目录改名后再同步）")
        layout.current(settings.index_dir)  # no index to update: say so before downloading anything
        snapshot = adapter.fetch()
        run.revision, run.files, outcome.layout = snapshot.revision, snapshot.files, snapshot.layout
        loaded = synced.load(snapshot.folder, adapter.name, settings.max_file_bytes)
        if not loaded.units:
            raise SyncError(f"来源中没有可用的法规或文件（{len(loaded.skipped)} 个文件被跳过）："
                            + "；".join(f"{s.path}：{s.reason}" for s in loaded.skipped[:5]))
        apply_validity(loaded.units, settings.as_of, {**loaded.repeals, **load_overrides()}, load_restored())
        outcome.changes = compare(_indexed(settings, synced.label(adapter.name)), loaded.units, loaded.skipped)
        run.counts = outcome.changes.counts
        if dry_run:
            adapter.undo()
        else:
            if outcome.changes.add or outcome.changes.remove_docs:
                update(settings, add=outcome.changes.add, remove_docs=outcome.changes.remove_docs,
                       embedder=embedder, repeals=loaded.repeals)
                outcome.applied = True
                outcome.notes.append("  索引已增量更新；正在运行的应用重启后使用新索引")
            adapter.keep()
        run.ok = True
    except (SyncError, LoadError, layout.IndexUnavailable, OSError) as exc:
        adapter.undo()
        run.message = str(exc)
        outcome.changes = None
    except BaseException as exc:  # an interruption or a fault inside the update: nothing was swapped in
        adapter.undo()
        run.message = f"同步中断（{type(exc).__name__}: {exc}）：索引未改变"
        run.finished = _now()
        log.record(run)
        log.close()
        raise
    run.finished = _now()
    if not dry_run:
        log.record(run)
    log.close()
    return outcome


def previous_sources(data_dir: Path) -> list[tuple[str, str]]:
    """(location, path) of every source synced before, for `python -m bot sync` without SOURCE."""
    if not path_in(data_dir).exists():
        return []
    log = SyncLog(path_in(data_dir))
    try:
        return [(r.location, r.path) for r in (log.last(s) for s in log.sources()) if r is not None]
    finally:
        log.close()
