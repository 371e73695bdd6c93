"""Build an index from sources, or update one by adding and removing documents.

Both write a fresh folder and swap it in (bot.index.layout), so readers never see a half-written
index. An update copies the previous store and vectors and only embeds the new units. With the
Milvus backend the folder is also loaded into a collection of its own before the swap, and the
alias is pointed at it after (bot.index.milvus).
"""
from __future__ import annotations

import hashlib
import shutil
from collections import Counter
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..config import Settings
from ..embeddings import load_embeddings
from ..sources import lawsdb, synced
from ..sources.compilation import compilation_files
from ..sources.folder import Loaded, load_compilations, load_folder
from ..text import add_words, tokenize
from ..lawnames import norm_title, parse_reference
from ..numerals import article_key
from ..units import CURRENT, QA_LEVEL, Unit
from ..validity import Repeal, apply_validity, load_overrides, load_restored, override_counts
from . import layout
from . import milvus
from .dense import DenseIndex
from .sparse import SparseIndex
from .store import UnitStore

BATCH = 128


def index_text(u: Unit) -> str:
    """What the encoders and BM25 see: the title and heading path before the text, and the
    ways people ask about it (phrasings of the Q&A cards that cite it) after."""
    head = u.aliases[0] if u.aliases else u.law
    where = " ".join(x for x in (u.chapter, u.heading_path, u.article) if x)
    asked = u.extra.get("asked_as")
    return f"{head} {where}\n{u.text}" + (f"\n常见问法：{'；'.join(asked)}" if asked else "")


def text_key(u: Unit) -> str:
    """What a vector is kept by (`_previous_vectors`, bot.index.second): the hash of the text it embeds."""
    return hashlib.sha1(index_text(u).encode()).hexdigest()


def attach_questions(units: list[Unit]) -> None:
    """Give every article a Q&A card cites the card's question phrasings (extra["asked_as"]):
    people write 房东不退押金 where the law says 租赁物…返还, and the cards bridge the two."""
    articles: dict[tuple[str, str], list[Unit]] = {}
    for u in units:
        if u.article_no and u.status == CURRENT:
            articles.setdefault((norm_title(u.law), article_key(u.article_no, u.sub_no)), []).append(u)
    for card in (u for u in units if u.level == QA_LEVEL):
        for ref in card.extra.get("articles", []):
            for target in articles.get(parse_reference(ref) or ("", ""), []):
                target.extra.setdefault("asked_as", []).extend(card.extra.get("questions", []))


def collect(settings: Settings) -> Loaded:
    """Units of the default corpus, the shipped knowledge, every configured source folder, the
    district compilations (惠企政策汇编及律师解读) the settings name and the sources kept by
    `python -m bot sync` (bot.sources.synced: a rebuild must not drop them)."""
    loaded = Loaded(units=lawsdb.load(settings.laws_db))
    folders = ([settings.knowledge_dir] if settings.knowledge_dir.exists() else []) + settings.sources
    compiled = {p.resolve() for p in compilation_files(settings.compilations)}  # not read twice
    for folder in folders:
        loaded.extend(load_folder(folder, max_bytes=settings.max_file_bytes, exclude=compiled))
    for name, folder in synced.folders(settings.data_dir):
        loaded.extend(synced.load(folder, name, settings.max_file_bytes))
    loaded.extend(load_compilations(settings.compilations, settings.compilation_region, settings.max_file_bytes))
    loaded.repeals.update(load_overrides())
    return loaded


def _fingerprint(units: list[Unit]) -> str:
    """Of what the encoders see (an article's text and the phrasings attached to it), so that
    anything kept per index (the lab's fold rerankers) is redone when either changes."""
    h = hashlib.sha1()
    for u in sorted(units, key=lambda u: u.uid):
        h.update(u.uid.encode())
        h.update(hashlib.sha1(index_text(u).encode()).digest())
    return h.hexdigest()[:16]


def _vectors_by_text(units: dict[int, Unit], dense: DenseIndex) -> dict[str, np.ndarray]:
    """The stored vectors of these units (by row id), keyed by the hash of the text they embed."""
    return {text_key(u): dense.index.reconstruct(i) for i, u in units.items()}


def _previous_vectors(settings: Settings, embedder) -> dict[str, np.ndarray]:
    """Vectors of the index being replaced, by the text they embed, when it used the same model:
    a rebuild after editing a few cards then embeds only what changed (seconds, not minutes)."""
    try:
        folder = layout.current(settings.index_dir)
        if layout.Manifest.load(folder).embedding != embedder.name:
            return {}
        store = UnitStore(folder / layout.STORE, readonly=True)
        try:
            return _vectors_by_text(store.get([row["id"] for row in store.columns("id")]), DenseIndex.load(folder))
        finally:
            store.close()
    except Exception:  # no index, or one that cannot be read: nothing to reuse, embed everything
        return {}


def _embed(embedder, units: list[Unit], progress: bool, known: dict[str, np.ndarray] | None = None) -> np.ndarray:
    texts = [index_text(u) for u in units]
    keys = [text_key(u) for u in units]
    known = known or {}
    out = np.zeros((len(texts), embedder.dim), dtype=np.float32)
    todo = []
    for i, key in enumerate(keys):
        if key in known:
            out[i] = known[key]
        else:
            todo.append(i)
    bar = tqdm(total=len(todo), desc="向量化", unit="条", disable=not progress)
    for start in range(0, len(todo), BATCH):
        batch = todo[start : start + BATCH]
        out[batch] = embedder.encode_passages([texts[i] for i in batch])
        bar.update(len(batch))
    bar.close()
    return out


def _manifest(settings: Settings, embedder, store: UnitStore, units: list[Unit], skipped) -> layout.Manifest:
    rows = store.columns("source", "doc_id", "published")
    return layout.Manifest(
        embedding=embedder.name, dim=embedder.dim, units=len(rows), fingerprint=_fingerprint(units),
        built=datetime.now().isoformat(timespec="seconds"), as_of=settings.as_of.isoformat(),
        sources=dict(Counter(r["source"] for r in rows)), documents=len({r["doc_id"] for r in rows}),
        newest_version=max((r["published"] or "" for r in rows), default=""),
        skipped=[asdict(s) for s in skipped], overrides=override_counts(units),
    )


def _write(settings: Settings, folder: Path, units: list[Unit], vectors: np.ndarray, embedder, skipped) -> layout.Manifest:
    add_words([a for u in units for a in u.aliases])
    tokens = [tokenize(index_text(u)) for u in units]
    store = UnitStore(folder / layout.STORE)
    ids = store.add(units, tokens, first_id=0)
    dense = DenseIndex.new(embedder.dim)
    dense.add(ids, vectors)
    dense.save(folder)
    SparseIndex.build(tokens).save(folder)
    manifest = _manifest(settings, embedder, store, units, skipped)
    store.close()
    manifest.save(folder)
    return manifest


def stored_first_stage(folder: Path) -> tuple[list[int], list[str], np.ndarray]:
    """What a build folder's first stage is made of: unit ids, their space-joined BM25 tokens and
    their vectors, in id order (loaded into Milvus, or multiplied by bot.lab.scale)."""
    store = UnitStore(folder / layout.STORE, readonly=True)
    rows = store.columns("tokens")
    store.close()
    ids = [r["id"] for r in rows]
    vectors = DenseIndex.load(folder).index.reconstruct_batch(np.asarray(ids, dtype=np.int64))
    return ids, [r["tokens"] or "" for r in rows], vectors


def _to_milvus(settings: Settings, folder: Path, manifest: layout.Manifest):
    """With the Milvus backend, the written folder's units loaded into a new collection, which
    the manifest then names; returns the client for the alias switch after the swap (None in-process)."""
    if settings.index_backend != "milvus":
        return None
    client = milvus.connect(settings.milvus_target)
    ids, tokens, vectors = stored_first_stage(folder)
    manifest.collection = milvus.collection_name(folder)
    milvus.publish(client, manifest.collection, ids, tokens, vectors)
    manifest.save(folder)
    return client


def _swap_in(settings: Settings, folder: Path, manifest: layout.Manifest, client) -> None:
    layout.swap_in(settings.index_dir, folder)
    if client is not None:
        milvus.switch(client, manifest.collection)


def build(settings: Settings, progress: bool = True, embedder=None) -> layout.Manifest:
    """Build the whole index from scratch and swap it in."""
    loaded = collect(settings)
    apply_validity(loaded.units, settings.as_of, loaded.repeals, load_restored())
    attach_questions(loaded.units)
    embedder = embedder or load_embeddings(settings.embedding, settings.threads)
    vectors = _embed(embedder, loaded.units, progress, _previous_vectors(settings, embedder))
    with layout.writing(settings.index_dir):
        folder = layout.new_build_dir(settings.index_dir)
        try:
            manifest = _write(settings, folder, loaded.units, vectors, embedder, loaded.skipped)
            client = _to_milvus(settings, folder, manifest)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        _swap_in(settings, folder, manifest, client)
    return manifest


def update(settings: Settings, add: list[Unit] | None = None, remove_docs: list[str] | None = None,
           embedder=None, repeals: dict[tuple[str, str], Repeal] | None = None) -> layout.Manifest:
    """Add units and remove documents without re-embedding the rest, then swap the result in.

    The previous store and vectors are copied into a new build folder and changed there; the
    BM25 index is rebuilt from stored tokens (seconds). A unit added back with the text of one
    removed in the same update (a document replaced because one article or its status changed)
    keeps its vector and its Q&A phrasings. Validity of added units is computed among
    themselves, the repeal decisions given (`repeals`, e.g. those of a synced source) and the
    documentation overrides.
    """
    add, remove_docs = add or [], remove_docs or []
    embedder = embedder or load_embeddings(settings.embedding, settings.threads)
    apply_validity(add, settings.as_of, {**(repeals or {}), **load_overrides()}, load_restored())
    with layout.writing(settings.index_dir):
        old = layout.current(settings.index_dir)
        manifest = layout.Manifest.load(old)
        if manifest.embedding != embedder.name:
            raise layout.IndexUnavailable(f"索引使用 {manifest.embedding}，不能用 {embedder.name} 增量更新：请完整重建")
        folder = layout.new_build_dir(settings.index_dir)
        try:
            src = UnitStore(old / layout.STORE, readonly=True)
            dense = DenseIndex.load(old)
            replaced = src.by_doc(remove_docs)
            _keep_questions(add, replaced.values())
            vectors = _embed(embedder, add, progress=False, known=_vectors_by_text(replaced, dense))
            store = UnitStore(folder / layout.STORE)
            src.copy_to(store)
            src.close()
            removed = store.remove_docs(remove_docs) if remove_docs else []
            if removed:
                dense.remove(removed)
            add_words([a for u in add for a in u.aliases])
            tokens = [tokenize(index_text(u)) for u in add]
            dense.add(store.add(add, tokens, store.next_id()), vectors)
            dense.save(folder)
            all_tokens = [(r["tokens"] or "").split() for r in store.columns("tokens")]
            SparseIndex.build(all_tokens).save(folder)
            new = _manifest(settings, embedder, store, store.units(), manifest.skipped)
            store.close()
            new.save(folder)
            client = _to_milvus(settings, folder, new)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        _swap_in(settings, folder, new, client)
    return new


def _keep_questions(add: list[Unit], replaced) -> None:
    """Added units take the Q&A phrasings (extra["asked_as"], attached at build time) of the unit
    with the same id they replace: an update does not run `attach_questions` again."""
    asked = {u.uid: u.extra["asked_as"] for u in replaced if u.extra.get("asked_as")}
    for u in add:
        if u.uid in asked and "asked_as" not in u.extra:
            u.extra["asked_as"] = asked[u.uid]
