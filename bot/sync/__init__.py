"""Keeping statutes current from public sources: `python -m bot sync SOURCE…`.

* `adapters` — where the files come from: a git repository of statutes (LawRefBook/Laws or
  Bibliotheca layout), or a folder of documents; fetched into `<FARUN_DATA_DIR>/sync/<name>/`
* `report`   — what changed since the last sync (documents, versions, article diffs, validity)
  and the incremental index update that follows from it
* `state`    — the record of every sync (`<FARUN_DATA_DIR>/sync.sqlite`), shown by stats
* `run`      — one sync: fetch, load with the corpus loaders, compare, update, record

The package sits above `bot.index` and `bot.sources` (it loads with the one set of loaders and
writes only through `builder.update`) and below `bot.retrieval`, whose `stats()` reports the
record next to the index manifest, so the CLI, `/api/health` and the page header all show it.
"""
