"""The on-disk layout of a dense index, and checks that turn a damaged one into a clear error.

A folder built by :class:`~rankkit_dense.builder.DenseIndexBuilder` holds::

    embeddings.npy        float32 (documents x dim), memory-mappable (np.load(mmap_mode="r"))
    doc_ids.txt           one document id per line, in row order
    faiss.index           the FAISS index (flat, hnsw or ivf-pq) over the same rows
    dense-index.json      how it was built: encoder (model fingerprint, dim, prefixes), FAISS parameters, counts

The model fingerprint is the core's (:meth:`rankkit.models.ModelRef.fingerprint`): a hash of the model's
files, which :func:`rankkit_dense.retriever.check_model` compares before any search.
    rankkit-index.json    the core's build stamp (written by rankkit.indexes.ensure_index)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rankkit.errors import IndexStateError
from rankkit.indexes import locate_index

EMBEDDINGS = "embeddings.npy"
DOC_IDS = "doc_ids.txt"
FAISS_FILE = "faiss.index"
META_FILE = "dense-index.json"
CORE_STAMP = "rankkit-index.json"
LAYOUT_VERSION = 1


@dataclass(frozen=True)
class DenseIndexLocation:
    """A resolved dense index.

    Attributes:
        root: The index folder.
        meta: The content of ``dense-index.json``.
        key: The core's build key (identity of the content).
    """

    root: Path
    meta: dict[str, Any]
    key: str

    @property
    def encoder(self) -> dict[str, Any]:
        """The encoder the documents were encoded with (model, model_fingerprint, dim, prefixes...).

        ``model_fingerprint`` is :meth:`rankkit.models.ModelRef.fingerprint` of the model that encoded them.
        """
        return dict(self.meta["encoder"])

    @property
    def faiss_params(self) -> dict[str, Any]:
        """The FAISS index type and its resolved parameters."""
        return dict(self.meta["faiss"])

    @property
    def documents(self) -> int:
        """How many documents the index holds."""
        return int(self.meta["documents"])

    @property
    def dim(self) -> int:
        """The embedding dimension."""
        return int(self.encoder["dim"])

    def rebuild_hint(self) -> str:
        """How to rebuild this index."""
        name = self.meta.get("name") or self.root.name
        return f"rebuild it: `rankkit index build indexes/{name}.toml --force` (or delete {self.root})"

    def damaged(self, what: str) -> IndexStateError:
        """The error for a damaged or incomplete index."""
        return IndexStateError(f"dense index {self.root}: {what}; {self.rebuild_hint()}")


def resolve_index(index: str | Path) -> DenseIndexLocation:
    """Find and check the dense index ``index`` names.

    Args:
        index: A folder built by the ``dense`` builder, or the name of an index
            in rankkit's index cache (``$RANKKIT_INDEX_DIR``).

    Raises:
        IndexStateError: Naming the missing or unreadable file and how to rebuild.
    """
    root = locate_index(index, "dense", "indexes/scifact-dense.toml")
    meta_path = root / META_FILE
    if not meta_path.is_file():
        raise IndexStateError(
            f"{root} is not a dense index: {META_FILE} is missing. Build it with the 'dense' index builder "
            "(`rankkit index build <manifest>`); an interrupted build leaves no folder, so this one was made otherwise"
        )
    meta = _read_json(meta_path, root)
    stamp = _read_json(root / CORE_STAMP, root) if (root / CORE_STAMP).is_file() else {}
    location = DenseIndexLocation(root, meta, str(stamp.get("key") or meta.get("content_key") or ""))
    if meta.get("layout") != LAYOUT_VERSION or not {"encoder", "faiss", "documents"} <= set(meta):
        raise location.damaged(f"{META_FILE} has layout {meta.get('layout')!r} or lacks keys; this plugin reads layout {LAYOUT_VERSION}")
    for name in (EMBEDDINGS, DOC_IDS, FAISS_FILE):
        if not (root / name).is_file():
            raise location.damaged(f"{name} is missing")
    return location


def _read_json(path: Path, root: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise IndexStateError(f"dense index {root}: {path.name} is unreadable ({error}); rebuild the index") from None
    if not isinstance(data, dict):
        raise IndexStateError(f"dense index {root}: {path.name} is not a JSON object; rebuild the index")
    return data


def load_doc_ids(location: DenseIndexLocation) -> np.ndarray:
    """The doc ids in row order, as a unicode array.

    Raises:
        IndexStateError: When their count differs from the index's.
    """
    text = (location.root / DOC_IDS).read_text(encoding="utf-8")
    ids = np.array(text.split("\n") if text else [], dtype=str)
    if len(ids) != location.documents:
        raise location.damaged(f"{DOC_IDS} lists {len(ids)} ids for {location.documents} documents")
    return ids


def open_embeddings(location: DenseIndexLocation) -> np.ndarray:
    """The embeddings, memory-mapped read-only.

    Raises:
        IndexStateError: For an unreadable file or a shape or dtype that does not match the index.
    """
    path = location.root / EMBEDDINGS
    try:
        array = np.load(path, mmap_mode="r")
    except (OSError, ValueError) as error:
        raise location.damaged(f"{EMBEDDINGS} is corrupted ({error})") from None
    expected = (location.documents, location.dim)
    if array.dtype != np.float32 or array.shape != expected:
        raise location.damaged(f"{EMBEDDINGS} holds {array.dtype} {array.shape}, expected float32 {expected}")
    return array


def read_faiss(location: DenseIndexLocation) -> Any:
    """The FAISS index, loaded.

    Raises:
        IndexStateError: For a corrupted file, or one whose size or dimension does not match the index.
    """
    import faiss

    path = location.root / FAISS_FILE
    try:
        index = faiss.read_index(str(path))
    except (RuntimeError, OSError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise location.damaged(f"{FAISS_FILE} is corrupted: FAISS cannot read it ({reason})") from None
    if index.d != location.dim or index.ntotal != location.documents:
        raise location.damaged(
            f"{FAISS_FILE} holds {index.ntotal} vectors of dimension {index.d}, expected {location.documents} of {location.dim}"
        )
    return index
