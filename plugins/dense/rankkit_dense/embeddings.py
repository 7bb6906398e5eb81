"""Resumable corpus encoding into a memory-mapped float32 array, in a persistent cache.

The core builds an index in a staging folder that it deletes when the build
fails, so encoding progress cannot live there. It lives in an **embedding
cache entry** instead: ``<rankkit cache>/dense/embeddings/<key>/``, keyed by the
encoder (model files, max_length, prefix, normalisation), the corpus checksum,
the fields encoded and the shard size. An entry holds::

    doc_ids.txt       written by a first, cheap pass over the corpus (which also counts it)
    embeddings.npy    float32 (documents x dim), preallocated with np.lib.format.open_memmap
    progress.json     shards finished so far (rewritten atomically after each shard is flushed)

The corpus is encoded shard by shard (``shard_size`` documents); after each
shard the rows are flushed and ``progress.json`` updated, so an interrupted
build resumes at the first unfinished shard. Only one shard of texts and
vectors is ever in memory. A finished entry is reused by every index built
from the same encoder and corpus (flat, HNSW and IVF-PQ encode once).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rankkit.components import fingerprint
from rankkit.config import cache_dir
from rankkit.errors import DataFormatError, IndexStateError
from rankkit.files import atomic_write
from rankkit.progress import progress_enabled
from rankkit.staging import pid_alive

from rankkit_dense.layout import DOC_IDS, EMBEDDINGS

if TYPE_CHECKING:  # pragma: no cover
    from rankkit.datasets.base import Dataset
    from rankkit.types import Document

    from rankkit_dense.encoder import DenseEncoder

log = logging.getLogger(__name__)

PROGRESS = "progress.json"
LOCK = ".lock"


@dataclass(frozen=True)
class EncodedCorpus:
    """A finished cache entry.

    Attributes:
        folder: The cache entry.
        documents: Rows (documents) encoded.
        dim: Embedding dimension.
        shards: Shards in all.
        cached_shards: Shards found already finished in the cache (not encoded by this call).
    """

    folder: Path
    documents: int
    dim: int
    shards: int
    cached_shards: int

    @property
    def embeddings(self) -> Path:
        """The ``embeddings.npy`` file."""
        return self.folder / EMBEDDINGS

    @property
    def doc_ids(self) -> Path:
        """The ``doc_ids.txt`` file."""
        return self.folder / DOC_IDS


def embedding_cache_root() -> Path:
    """Where embedding cache entries live: ``<rankkit cache>/dense/embeddings``."""
    return cache_dir() / "dense" / "embeddings"


def entry_key(encoder_fingerprint: str, corpus_checksum: str, fields: str, shard_size: int) -> str:
    """The cache key of a corpus encoded by an encoder."""
    params = {"encoder": encoder_fingerprint, "corpus": corpus_checksum, "fields": fields, "shard_size": shard_size}
    return fingerprint("embeddings", "dense", params)


def document_text(doc: Document, fields: str) -> str:
    """The text encoded for a document: ``title text`` or the text alone."""
    return doc.full_text if fields == "title+text" else doc.text


def encode_corpus(
    dataset: Dataset, encoder: DenseEncoder, fields: str, shard_size: int, progress: bool = True
) -> EncodedCorpus:
    """Encode ``dataset``'s corpus into its cache entry, resuming a partial one.

    Args:
        dataset: The corpus to encode (streamed twice: ids, then texts).
        encoder: The document encoder.
        fields: ``"title+text"`` or ``"text"``.
        shard_size: Documents per shard (the unit of resumption).
        progress: Show a progress bar (shards, in documents); never inside ``progress_bars(False)``
            (``rankkit run --no-progress``).

    Returns:
        The finished entry.

    Raises:
        DataFormatError: From the dataset, or for a doc id with a line break.
        IndexStateError: When another process is encoding the same entry, or the corpus is empty.
    """
    progress = progress and progress_enabled()
    key = entry_key(encoder.fingerprint, dataset.corpus_checksum(), fields, shard_size)
    folder = embedding_cache_root() / key
    folder.mkdir(parents=True, exist_ok=True)
    with _locked(folder):
        state = _read_progress(folder, shard_size)
        if state is None:
            state = _start(folder, dataset, encoder, shard_size, key)
        total = _shards(state["documents"], shard_size)
        cached = min(state["shards_done"], total)
        if cached < total:
            if cached:
                log.info("dense %s: resuming the encoding at shard %d of %d (%s)", dataset.name, cached + 1, total, folder)
            _encode_shards(folder, dataset, encoder, fields, state, progress)
        return EncodedCorpus(folder, state["documents"], state["dim"], total, cached)


def remove_entry(corpus: EncodedCorpus) -> None:
    """Delete a cache entry (the index keeps its own link or copy of the files)."""
    shutil.rmtree(corpus.folder, ignore_errors=True)


def _shards(documents: int, shard_size: int) -> int:
    return -(-documents // shard_size)


def _start(folder: Path, dataset: Dataset, encoder: DenseEncoder, shard_size: int, key: str) -> dict[str, Any]:
    """First pass: write the doc ids, count the corpus, preallocate the array."""
    count = 0
    with atomic_write(folder / DOC_IDS) as handle:
        for doc in dataset.iter_documents():
            if "\n" in doc.doc_id or "\r" in doc.doc_id:
                raise DataFormatError(getattr(dataset, "corpus_path", dataset.name), count + 1, f"doc id {doc.doc_id!r} contains a line break")
            handle.write(("\n" if count else "") + doc.doc_id)
            count += 1
    if count == 0:
        raise IndexStateError(f"dense: the corpus of {dataset.name!r} has no documents; there is nothing to index")
    dim = encoder.dimension
    array = np.lib.format.open_memmap(folder / EMBEDDINGS, mode="w+", dtype=np.float32, shape=(count, dim))
    del array  # flushed and closed
    state = {"key": key, "documents": count, "dim": dim, "shard_size": shard_size, "shards_done": 0}
    _write_progress(folder, state)
    return state


def _encode_shards(
    folder: Path, dataset: Dataset, encoder: DenseEncoder, fields: str, state: dict[str, Any], progress: bool
) -> None:
    from tqdm.auto import tqdm

    shard_size, done = state["shard_size"], state["shards_done"]
    ids = (folder / DOC_IDS).read_text(encoding="utf-8").split("\n")
    array = np.lib.format.open_memmap(folder / EMBEDDINGS, mode="r+")
    start = done * shard_size
    bar = tqdm(total=state["documents"], initial=start, desc=f"dense {dataset.name}: encoding", unit=" docs",
               disable=not progress or None)
    batches = progress and sys.stderr.isatty()  # sentence-transformers' own bar, within each shard
    try:
        documents = islice(dataset.iter_documents(), start, None)
        for shard in _chunks(documents, shard_size):
            end = start + len(shard)
            if [d.doc_id for d in shard] != ids[start:end]:
                raise IndexStateError(
                    f"dense: the corpus of {dataset.name!r} changed while it was being encoded (rows {start}-{end}); "
                    f"delete {folder} and rebuild"
                )
            vectors = encoder.encode_documents([document_text(d, fields) for d in shard], progress=batches)
            array[start:end] = vectors
            array.flush()
            state["shards_done"] += 1
            _write_progress(folder, state)
            bar.update(len(shard))
            start = end
    finally:
        bar.close()
        del array
    if start != state["documents"]:
        raise IndexStateError(f"dense: the corpus of {dataset.name!r} has {start} documents now, {state['documents']} before; delete {folder} and rebuild")


def _chunks(documents: Iterator[Document], size: int) -> Iterator[list[Document]]:
    while shard := list(islice(documents, size)):
        yield shard


def _read_progress(folder: Path, shard_size: int) -> dict[str, Any] | None:
    """The saved progress, or ``None`` (and a clean folder) when there is none usable."""
    try:
        state = json.loads((folder / PROGRESS).read_text())
        array = np.load(folder / EMBEDDINGS, mmap_mode="r")
        usable = (
            state["shard_size"] == shard_size
            and array.shape == (state["documents"], state["dim"])
            and (folder / DOC_IDS).is_file()
        )
        del array
    except (OSError, ValueError, KeyError, TypeError):
        usable = False
    if not usable:
        for name in (PROGRESS, EMBEDDINGS, DOC_IDS):
            (folder / name).unlink(missing_ok=True)
        return None
    return state


def _write_progress(folder: Path, state: dict[str, Any]) -> None:
    with atomic_write(folder / PROGRESS) as handle:
        json.dump(state, handle, indent=2, sort_keys=True)


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """Hold the entry's lock file (refusing while another live process holds it)."""
    lock = folder / LOCK
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            break
        except FileExistsError:
            owner = lock.read_text().strip() if lock.exists() else ""
            if owner.isdigit() and int(owner) != os.getpid() and pid_alive(int(owner)):
                raise IndexStateError(f"dense: {folder} is being encoded by process {owner}; wait for it to finish") from None
            lock.unlink(missing_ok=True)
    else:  # pragma: no cover - lost a race twice
        raise IndexStateError(f"dense: cannot lock {folder}; retry")
    try:
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        yield
    finally:
        lock.unlink(missing_ok=True)
