"""The on-disk layout of a bm25 index, and how a retriever finds one.

A folder built by :class:`~rankkit_bm25.builder.Bm25IndexBuilder` holds::

    lucene/               the Lucene index (Anserini's layout: id, contents, raw, docvectors)
    bm25-index.json       how it was built (fields layout, analyzer, versions, counts)
    rankkit-index.json    the core's build stamp (written by rankkit.indexes.ensure_index)

The Lucene index sits in a subfolder so that nothing rankkit writes can be
mistaken for a Lucene file. A retriever also accepts a bare Lucene index (a
folder with ``segments_N``), such as one Pyserini or Anserini built directly;
it is then assumed to be a BEIR "flat" index with Anserini's default analyzer.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rankkit.errors import IndexStateError
from rankkit.indexes import locate_index

LUCENE_DIR = "lucene"
META_FILE = "bm25-index.json"
CORE_STAMP = "rankkit-index.json"
LAYOUT_VERSION = 1

FLAT = "title+text"
SEPARATE = "separate"
FIELD_LAYOUTS = (FLAT, SEPARATE)
STEMMERS = ("porter", "krovetz", "none")

#: Build settings assumed for a bare Lucene index (Anserini's defaults).
DEFAULT_META: dict[str, Any] = {"fields": FLAT, "stemmer": "porter", "stopwords": True}


@dataclass(frozen=True)
class IndexLocation:
    """A resolved bm25 index.

    Attributes:
        root: The folder the user named.
        lucene: The Lucene index folder inside it (or ``root`` for a bare index).
        meta: Build settings (``fields``, ``stemmer``, ``stopwords``, ...).
        key: A stable identity of the index content: the core's build key, or
            a hash of the Lucene commit for a bare index.
    """

    root: Path
    lucene: Path
    meta: dict[str, Any]
    key: str

    @property
    def fields(self) -> str:
        """The field layout: ``"title+text"`` or ``"separate"``."""
        return str(self.meta.get("fields", FLAT))

    @property
    def searchable_fields(self) -> tuple[str, ...]:
        """The indexed text fields."""
        return ("contents", "title") if self.fields == SEPARATE else ("contents",)


def resolve_index(index: str | Path) -> IndexLocation:
    """Find the Lucene index for ``index``.

    Args:
        index: A folder built by the bm25 builder (the path rankkit's index
            cache gives), a bare Lucene index folder, or the name of an index in
            rankkit's index cache (``$RANKKIT_INDEX_DIR``).

    Raises:
        IndexStateError: Saying what the folder lacks and how to build it.
    """
    root = locate_index(index, "bm25", "indexes/scifact-bm25.toml")
    if (root / LUCENE_DIR).is_dir():
        lucene = root / LUCENE_DIR
        meta = {**DEFAULT_META, **_read_json(root / META_FILE)}
        stamp = _read_json(root / CORE_STAMP)
        key = str(stamp.get("key") or meta.get("content_key") or _commit_hash(lucene))
    elif _has_segments(root):
        lucene, meta, key = root, dict(DEFAULT_META), _commit_hash(root)
    else:
        raise IndexStateError(
            f"{root} is not a bm25 index: it has no '{LUCENE_DIR}/' folder and no Lucene segments_N file. "
            "Build it with the 'bm25' index builder (`rankkit index build <manifest>`), or point `index` at "
            "a Lucene index folder"
        )
    if not _has_segments(lucene):
        raise IndexStateError(f"{lucene} holds no Lucene commit (segments_N is missing): the build did not finish; rebuild it")
    return IndexLocation(root, lucene, meta, key)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, json.JSONDecodeError) as error:
        raise IndexStateError(f"{path}: unreadable ({error}); rebuild the index") from None
    return data if isinstance(data, dict) else {}


def _has_segments(folder: Path) -> bool:
    return any(folder.glob("segments_*"))


def _commit_hash(lucene: Path) -> str:
    """Hash of the newest Lucene commit point (it names every segment and carries the index's id)."""
    commits = sorted(lucene.glob("segments_*"), key=lambda p: int(p.name.split("_", 1)[1], 36))
    if not commits:
        return "no-commit"
    return hashlib.sha256(commits[-1].read_bytes()).hexdigest()[:16]
