"""The index: a SQLite unit store, a FAISS dense index and a BM25 sparse index in one folder,
described by a manifest and swapped in atomically (see `layout`)."""
