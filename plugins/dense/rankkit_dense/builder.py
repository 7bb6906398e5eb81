"""The ``dense`` index builder: a dataset's corpus encoded by a sentence-transformers model, plus a FAISS index.

The corpus is encoded shard by shard into the persistent embedding cache
(:mod:`rankkit_dense.embeddings`), which is what makes an interrupted build
resumable, then the finished ``embeddings.npy`` and ``doc_ids.txt`` are
hard-linked (copied across file systems) into the staging folder the core
gives, and the FAISS index is built from the memory-mapped array. See
:mod:`rankkit_dense.layout` for the folder it leaves.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rankkit.files import atomic_write

from rankkit_dense.embeddings import encode_corpus, remove_entry
from rankkit_dense.encoder import DenseEncoder
from rankkit_dense.layout import DOC_IDS, EMBEDDINGS, FAISS_FILE, LAYOUT_VERSION, META_FILE
from rankkit_dense.settings import DenseBuilderSettings

if TYPE_CHECKING:  # pragma: no cover
    from rankkit.datasets.base import Dataset

#: Libraries whose versions an index records in its stats (those that enter its key are the plugin's LIBRARIES).
RECORDED_LIBRARIES = ("faiss-cpu", "faiss-gpu", "sentence-transformers", "transformers", "torch", "numpy")


class DenseIndexBuilder:
    """Builds a dense index (embeddings + FAISS) from a dataset.

    Args:
        settings: The document encoder's settings (model, device, batching, prefixes...), the FAISS index type
            and parameters, and how the corpus is encoded (fields, shards, the embedding cache): see
            :class:`~rankkit_dense.settings.DenseBuilderSettings`; the defaults when unset.
        progress: Show a progress bar while encoding.
    """

    def __init__(self, settings: DenseBuilderSettings | None = None, progress: bool = True) -> None:
        self.settings = settings or DenseBuilderSettings()
        self.progress = progress
        self.encoder = DenseEncoder(self.settings)
        # The model's files (their core fingerprint, rankkit.models.ModelRef.fingerprint) are part of the
        # version, so new weights under the same name rebuild the index.
        self.version = f"{LAYOUT_VERSION}+faiss-{_version('faiss-cpu', 'faiss-gpu')}+model-{self.encoder.model_fingerprint}"

    def __repr__(self) -> str:
        return f"DenseIndexBuilder({self.encoder!r}, index_type={self.settings.index_type!r}, fields={self.settings.fields!r})"

    def build(self, dataset: Dataset, target: Path) -> dict[str, Any]:
        """Encode ``dataset`` and index it into the empty folder ``target``.

        Returns:
            Statistics for the core's stamp: ``documents``, ``dim``, the encoder
            (model, model fingerprint, max_length, prefixes), the FAISS
            parameters, file sizes, timings and library versions.

        Raises:
            DataFormatError: From the dataset, naming file:line of a bad record.
            ConfigError: When the model cannot be loaded or IVF-PQ does not fit the corpus.
        """
        import faiss

        target = Path(target)
        started = time.perf_counter()
        settings = self.settings
        corpus = encode_corpus(dataset, self.encoder, settings.fields, settings.shard_size, self.progress)
        encoded = time.perf_counter()
        for name in (EMBEDDINGS, DOC_IDS):
            _link_or_copy(corpus.folder / name, target / name)
        embeddings = np.load(target / EMBEDDINGS, mmap_mode="r")
        from rankkit_dense.faiss_index import build_faiss

        index, params = build_faiss(embeddings, settings)
        faiss.write_index(index, str(target / FAISS_FILE))
        indexed = time.perf_counter()
        del embeddings
        encoder = self.encoder.describe()
        meta = {
            "layout": LAYOUT_VERSION,
            "dataset": dataset.name,
            "corpus_checksum": dataset.corpus_checksum(),
            "documents": corpus.documents,
            "fields": settings.fields,
            "encoder": encoder,
            "faiss": params,
        }
        with atomic_write(target / META_FILE) as handle:
            json.dump(meta, handle, indent=2, sort_keys=True)
        if not settings.cache_embeddings:
            remove_entry(corpus)
        return {
            "documents": corpus.documents,
            "dim": encoder["dim"],
            "fields": settings.fields,
            "encoder": encoder,
            "faiss": params,
            "shards": corpus.shards,
            "cached_shards": corpus.cached_shards,
            "resumed": corpus.cached_shards > 0,  # encoded shards found in the embedding cache were not encoded again
            "device": self.encoder.device,
            "embeddings_bytes": (target / EMBEDDINGS).stat().st_size,
            "faiss_bytes": (target / FAISS_FILE).stat().st_size,
            "encode_seconds": round(encoded - started, 3),
            "index_seconds": round(indexed - encoded, 3),
            "versions": {name: v for name in RECORDED_LIBRARIES if (v := _version(name)) != "not installed"},
        }


def _link_or_copy(source: Path, target: Path) -> None:
    """Hard-link ``source`` to ``target`` (no extra disk), copying when the file systems differ."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def _version(*names: str) -> str:
    for name in names:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return "not installed"
