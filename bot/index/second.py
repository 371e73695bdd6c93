"""A second, stronger encoder's vectors (multilingual-e5-small by default), for the reranker.

USE embeds the whole corpus in about two minutes, so a new index serves at once; e5 ranks
articles better but embeds about 10 passages a second on two cores (the default corpus: about 45
minutes; 2026-12-04). So its vectors never block a build: `fill` adds them to the index being served,
afterwards, in the background of a started app (`fill_in_background`) or with
`python -m bot build --second`. Until they are there the reranker ranks without them (its first
weights); with them, with its second (`rerank.Reranker.second_weights`).

    index/second/<model>.npz          vectors by the hash of the text they embed (`builder.text_key`):
                                      what every build reuses, so a rebuild or an upload embeds only new texts
    index/builds/<stamp>/second.npz   the vectors of that build's units, by unit id, written
                                      atomically once all are there; a knowledge base opens it when present

An update or rebuild writes a new folder without the file: the served index ranks without the
second encoder until `fill` has embedded the new texts (seconds for an upload).
"""
from __future__ import annotations

import fcntl
import logging
import os
import re
import secrets
import threading
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..config import Settings
from ..embeddings import load_embeddings
from . import layout
from .builder import index_text, text_key
from .store import UnitStore

log = logging.getLogger(__name__)

FILE = "second.npz"
BATCH = 64
SAVE_EVERY = 20  # batches between saves of the cache: a fill stopped midway resumes where it was


def _cache_path(settings: Settings) -> Path:
    name = re.sub(r"[^\w.-]", "_", settings.second_model)  # st:/models/bge-small-zh -> st__models_bge-small-zh
    return settings.index_dir / "second" / f"{name}.npz"


def _save(path: Path, **arrays) -> None:
    """Write an .npz atomically (a temporary file renamed over it): readers see the old or the new."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}-{secrets.token_hex(4)}.npz")
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
    os.replace(tmp, path)


def _load_cache(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path) as data:
            return dict(zip(data["keys"].tolist(), data["vectors"]))
    except (OSError, ValueError, KeyError):  # none yet, or a damaged file: embed again
        return {}


def _stacked(vectors: list[np.ndarray]) -> np.ndarray:
    return np.stack(vectors).astype(np.float16) if vectors else np.zeros((0, 0), np.float16)


def _save_cache(path: Path, cache: dict[str, np.ndarray]) -> None:
    _save(path, keys=np.array(list(cache), dtype="U40"), vectors=_stacked(list(cache.values())))


class SecondVectors:
    """A build's second-encoder vectors, one row per unit id."""

    def __init__(self, ids: np.ndarray, vectors: np.ndarray):
        self.ids, self.vectors = ids, vectors

    @classmethod
    def open(cls, folder: Path, model: str) -> "SecondVectors | None":
        """The build's vectors of `model`; None when there are none (yet) or they are of another model."""
        if not model:
            return None
        try:
            with np.load(folder / FILE) as data:
                if str(data["model"]) != model:
                    return None
                return cls(data["ids"].astype(np.int64), data["vectors"])
        except (OSError, ValueError, KeyError):
            return None


def present(folder: Path) -> bool:
    """Whether the build has its second-encoder vectors (what a served knowledge base compares with)."""
    return (folder / FILE).exists()


def fill(settings: Settings, embedder=None, progress: bool = False) -> int:
    """Embed the units of the current index that the cache lacks and write the build's vectors;
    returns how many texts were embedded (0: nothing to do, or another fill is running)."""
    if not settings.second_model:
        return 0
    folder = layout.current(settings.index_dir)
    if present(folder):
        return 0
    lock_path = settings.index_dir / "second" / ".lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # another process fills: it writes the same vectors
            return 0
        store = UnitStore(folder / layout.STORE, readonly=True)
        try:
            units = store.get([r["id"] for r in store.columns("id")])
        finally:
            store.close()
        keys = {uid: text_key(u) for uid, u in units.items()}
        path = _cache_path(settings)
        cache = _load_cache(path)
        todo = [uid for uid, k in keys.items() if k not in cache]
        todo = list({keys[uid]: uid for uid in todo}.values())  # one text embedded once
        if todo:
            embedder = embedder or load_embeddings(settings.second_model, settings.threads)
            bar = tqdm(total=len(todo), desc=f"{settings.second_model} 向量化", unit="条", disable=not progress)
            for n, start in enumerate(range(0, len(todo), BATCH), 1):
                batch = todo[start:start + BATCH]
                vectors = embedder.encode_passages([index_text(units[uid]) for uid in batch])
                cache.update(zip((keys[uid] for uid in batch), vectors.astype(np.float16)))
                bar.update(len(batch))
                if n % SAVE_EVERY == 0:
                    _save_cache(path, cache)
            bar.close()
        ids = np.array(sorted(keys), dtype=np.int64)
        cache = {k: cache[k] for k in set(keys.values())}  # only what the index being served embeds
        _save_cache(path, cache)
        if folder.exists():  # not replaced meanwhile by a build that deleted it
            _save(folder / FILE, model=np.array(settings.second_model), ids=ids,
                  vectors=_stacked([cache[keys[i]] for i in ids.tolist()]))
        return len(todo)


def fill_in_background(settings: Settings) -> threading.Thread | None:
    """Fill on a daemon thread, over and over as the index changes (an upload, a sync), one
    encoder thread so that answers keep the other core; None when no second encoder is set."""
    if not settings.second_model:
        return None

    def run() -> None:
        embedder = None
        while True:
            try:
                folder = layout.current(settings.index_dir)
                if not present(folder):
                    embedder = embedder or load_embeddings(settings.second_model, 1)
                    if (n := fill(settings, embedder)):
                        log.info("second encoder: %d texts embedded for %s", n, folder.name)
            except layout.IndexUnavailable:  # no index yet (its build failed): nothing to fill
                pass
            except Exception:  # never take the app down: the reranker ranks without the vectors
                log.exception("second encoder: fill failed")
            time.sleep(60)

    thread = threading.Thread(target=run, name="farun-second-encoder", daemon=True)
    thread.start()
    return thread
