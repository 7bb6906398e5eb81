"""Content-addressed score cache on disk (SQLite).

A score is keyed by the scorer's fingerprint, the query text and the document
text, so a repeated experiment never rescores a pair it has scored before, and a
changed model or parameter never reads stale scores.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

_CHUNK = 500


def score_key(fingerprint: str, query: str, document: str) -> bytes:
    """The cache key of one (scorer, query, document) triple."""
    digest = hashlib.blake2b(digest_size=20)
    for part in (fingerprint, query, document):
        data = part.encode("utf-8")
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.digest()


class ScoreCache:
    """A SQLite file of ``key -> score``.

    Args:
        path: The database file (created with its parent folder if needed).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS scores (key BLOB PRIMARY KEY, score REAL NOT NULL) WITHOUT ROWID")
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM scores").fetchone()[0]

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()

    def get_many(self, keys: Sequence[bytes]) -> dict[bytes, float]:
        """Cached scores of the keys that are present."""
        found: dict[bytes, float] = {}
        with self._lock:
            for start in range(0, len(keys), _CHUNK):
                chunk = list(keys[start : start + _CHUNK])
                marks = ",".join("?" * len(chunk))
                found.update(self._db.execute(f"SELECT key, score FROM scores WHERE key IN ({marks})", chunk))
        return found

    def put_many(self, items: Sequence[tuple[bytes, float]]) -> None:
        """Store scores (committed before returning)."""
        with self._lock, self._db:
            self._db.executemany("INSERT OR REPLACE INTO scores VALUES (?, ?)", items)


class CachedScorer:
    """A scorer whose scores go through a :class:`ScoreCache`.

    Args:
        scorer: Any object with ``fingerprint`` and ``score(query, documents)``.
        cache: The cache.
    """

    def __init__(self, scorer: object, cache: ScoreCache) -> None:
        self.scorer = scorer
        self.cache = cache
        self.fingerprint: str = scorer.fingerprint  # type: ignore[attr-defined]
        self.by_document: bool = bool(getattr(scorer, "by_document", False))

    def score_many(self, items: Sequence[tuple[str, Sequence[str]]]) -> list[np.ndarray]:
        """Scores of several queries' documents; the uncached pairs of all of them reach the wrapped scorer in
        one ``score_many`` call when it has one (so it can batch across queries)."""
        keys = [[score_key(self.fingerprint, query, doc) for doc in documents] for query, documents in items]
        cached = self.cache.get_many([k for ks in keys for k in ks])
        missing = [(i, [j for j, k in enumerate(ks) if k not in cached]) for i, ks in enumerate(keys)]
        asked = [(items[i][0], [items[i][1][j] for j in js]) for i, js in missing if js]
        inner = getattr(self.scorer, "score_many", None)
        fresh = (inner(asked) if inner is not None else [self.scorer.score(q, d) for q, d in asked]) if asked else []  # type: ignore[attr-defined]
        fresh_iter = iter(fresh)
        out, stored = [], []
        for (i, js), ks in zip(missing, keys):
            scores = np.array([cached.get(k, np.nan) for k in ks], dtype=np.float64)
            if js:
                new = np.asarray(next(fresh_iter), dtype=np.float64)
                scores[js] = new
                stored.extend((ks[j], float(v)) for j, v in zip(js, new))
            out.append(scores)
        total = sum(len(ks) for ks in keys)
        self.cache.misses += len(stored)
        self.cache.hits += total - len(stored)
        if stored:
            self.cache.put_many(stored)
        return out

    def score(self, query: str, documents: Sequence[str], doc_ids: Sequence[str] | None = None) -> np.ndarray:
        """Scores of ``documents``; only uncached pairs reach the wrapped scorer.

        A ``by_document`` scorer (whose score depends on the document's id too) gets the ids, and they join the keys.
        """
        if self.by_document and doc_ids is not None:
            keys = [score_key(self.fingerprint, query, f"{doc_id}\x00{doc}") for doc_id, doc in zip(doc_ids, documents)]
        else:
            keys = [score_key(self.fingerprint, query, doc) for doc in documents]
        cached = self.cache.get_many(keys)
        missing = [i for i, key in enumerate(keys) if key not in cached]
        self.cache.hits += len(keys) - len(missing)
        self.cache.misses += len(missing)
        scores = np.array([cached.get(key, np.nan) for key in keys], dtype=np.float64)
        if missing:
            texts = [documents[i] for i in missing]
            if self.by_document:
                ids = None if doc_ids is None else [doc_ids[i] for i in missing]
                fresh = np.asarray(self.scorer.score(query, texts, doc_ids=ids), dtype=np.float64)  # type: ignore[attr-defined]
            else:
                fresh = np.asarray(self.scorer.score(query, texts), dtype=np.float64)  # type: ignore[attr-defined]
            scores[missing] = fresh
            self.cache.put_many([(keys[i], float(s)) for i, s in zip(missing, fresh)])
        return scores
