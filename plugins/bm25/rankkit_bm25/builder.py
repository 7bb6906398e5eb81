"""The ``bm25`` index builder: any rankkit dataset into a Lucene index, through Anserini.

The corpus is streamed from :meth:`Dataset.iter_documents` (which raises
:class:`~rankkit.errors.DataFormatError` with file:line on a bad record) into
``JsonCollection`` shards of ``{"id", "contents"}`` in a temporary folder, and
Anserini's ``IndexCollection`` indexes them in-process, exactly as
``python -m pyserini.index.lucene`` does, with positions, docvectors and raw
text stored.

With ``fields = "title+text"`` (the default) ``contents`` is the title and the
text joined by a space, which tokenises exactly as Anserini's
``BeirFlatCollection`` (title, newline, text), so the index ranks like
Pyserini's BEIR "flat" indexes. With ``fields = "separate"`` the title is its
own field (``title``), as in Pyserini's BEIR "multifield" indexes.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from collections.abc import Iterable
from contextlib import ExitStack
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from rankkit.errors import ConfigError, IndexStateError
from rankkit.files import atomic_write
from rankkit.progress import progress_enabled

from rankkit_bm25 import _jvm
from rankkit_bm25.layout import FLAT, LAYOUT_VERSION, LUCENE_DIR, META_FILE, SEPARATE
from rankkit_bm25.settings import Bm25BuilderSettings

if TYPE_CHECKING:  # pragma: no cover
    from rankkit.datasets.base import Dataset
    from rankkit.types import Document

log = logging.getLogger(__name__)


class Bm25IndexBuilder:
    """Builds a Lucene index for BM25 from a dataset.

    Args:
        settings: Indexing threads (and JsonCollection shards); ``fields`` ``"title+text"`` (one ``contents``
            field) or ``"separate"`` (``contents`` and ``title``); the stemmer; stopword removal; whether to merge
            the index into one segment (:class:`~rankkit_bm25.settings.Bm25BuilderSettings`).
        progress: Show a progress bar while converting documents.
    """

    def __init__(self, settings: Bm25BuilderSettings | None = None, progress: bool = True) -> None:
        settings = settings or Bm25BuilderSettings()
        self.threads = settings.threads
        self.fields = settings.fields
        self.stemmer = settings.stemmer
        self.stopwords = settings.stopwords
        self.optimize = settings.optimize
        self.progress = progress
        self.version = f"{LAYOUT_VERSION}+anserini-{_jvm.anserini_version()}"

    def __repr__(self) -> str:
        return (
            f"Bm25IndexBuilder(threads={self.threads}, fields={self.fields!r}, stemmer={self.stemmer!r}, "
            f"stopwords={self.stopwords}, optimize={self.optimize})"
        )

    def build(self, dataset: Dataset, target: Path) -> dict[str, Any]:
        """Index ``dataset`` into the empty folder ``target``.

        Returns:
            Statistics for the manifest: ``documents`` (indexed), ``empty``
            (documents with no text, which Anserini skips), versions and timings.

        Raises:
            DataFormatError: From the dataset, naming file:line of a bad record.
            IndexStateError: When Anserini fails to index some documents.
        """
        target = Path(target)
        started = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix=".jsoncollection-", dir=target) as tmp:
            written = write_collection(
                dataset.iter_documents(), Path(tmp), self.threads, self.fields,
                progress=self.progress, label=f"bm25 {dataset.name}",
            )
            converted = time.perf_counter()
            counters = index_collection(Path(tmp), target / LUCENE_DIR, self.collection_args())
        indexed = time.perf_counter()
        _check_counters(counters, written, dataset.name)
        stats: dict[str, Any] = {
            "documents": counters["indexed"],
            "empty": counters["empty"],
            "corpus_documents": written,
            "fields": self.fields,
            "stemmer": self.stemmer,
            "stopwords": self.stopwords,
            "convert_seconds": round(converted - started, 3),
            "index_seconds": round(indexed - converted, 3),
            **_index_statistics(target / LUCENE_DIR),
            **_jvm.runtime_versions(),
        }
        meta = {"layout": LAYOUT_VERSION, "lucene_dir": LUCENE_DIR, "dataset": dataset.name, **stats}
        with atomic_write(target / META_FILE) as handle:
            json.dump(meta, handle, indent=2, sort_keys=True)
        if counters["empty"]:
            log.warning("bm25 %s: %d documents have no text and were not indexed", dataset.name, counters["empty"])
        return stats

    def collection_args(self) -> list[str]:
        """Anserini ``IndexCollection`` options besides ``-input`` and ``-index``."""
        args = [
            "-collection", "JsonCollection",
            "-generator", "DefaultLuceneDocumentGenerator",
            "-threads", str(self.threads),
            "-stemmer", self.stemmer,
            "-storePositions", "-storeDocvectors", "-storeRaw",
        ]
        if not log.isEnabledFor(logging.DEBUG):
            args.append("-quiet")
        if not self.stopwords:
            args.append("-keepStopwords")
        if self.fields == SEPARATE:
            args += ["-fields", "title"]
        if self.optimize:
            args.append("-optimize")
        return args


def write_collection(
    documents: Iterable[Document],
    folder: Path,
    shards: int,
    fields: str = FLAT,
    progress: bool = True,
    label: str = "bm25",
) -> int:
    """Write documents as Anserini ``JsonCollection`` shards (``docs-NN.jsonl``), round-robin.

    Args:
        documents: The corpus stream; its errors propagate unchanged.
        folder: Where the shards go.
        shards: Number of shard files (one per indexing thread).
        fields: ``"title+text"`` or ``"separate"``.
        progress: Show a tqdm progress bar (never inside ``progress_bars(False)``: ``rankkit run --no-progress``).
        label: The progress bar's description.

    Returns:
        The number of documents written.
    """
    from tqdm.auto import tqdm

    dumps = json.JSONEncoder(ensure_ascii=False).encode
    separate = fields == SEPARATE
    count = 0
    with ExitStack() as stack:
        handles: list[IO[str]] = [
            stack.enter_context(open(folder / f"docs-{i:02d}.jsonl", "w", encoding="utf-8")) for i in range(shards)
        ]
        shown = progress and progress_enabled()
        bar = stack.enter_context(tqdm(desc=f"{label}: converting", unit=" docs", disable=not shown or None))
        for doc in documents:
            if separate:
                record = {"id": doc.doc_id, "contents": doc.text, "title": doc.title}
            else:
                record = {"id": doc.doc_id, "contents": doc.full_text}
            handles[count % shards].write(dumps(record) + "\n")
            count += 1
            if count % 1000 == 0:
                bar.update(1000)
        bar.update(count % 1000)
    return count


def index_collection(collection: Path, index: Path, args: list[str]) -> dict[str, int]:
    """Run Anserini's ``IndexCollection`` in-process on a JsonCollection folder.

    Args:
        collection: Folder of JsonCollection files.
        index: The Lucene index folder to create.
        args: Further ``IndexCollection`` options (``-threads``, ``-stemmer``, ...).

    Returns:
        Anserini's counters: ``indexed``, ``empty``, ``unindexable``, ``skipped``, ``errors``.

    Raises:
        ConfigError: When Anserini rejects the options.
    """
    jargs = _jvm.autoclass("io.anserini.index.IndexCollection$Args")()
    parser = _jvm.autoclass("org.kohsuke.args4j.CmdLineParser")(jargs)
    full = ["-input", str(collection), "-index", str(index), *args]
    try:
        parser.parseArgument(_jvm.java_string_list(full))
    except Exception as error:  # jnius.JavaException
        raise ConfigError(f"Anserini IndexCollection rejected the options {full}: {error}") from None
    indexer = _jvm.autoclass("io.anserini.index.IndexCollection")(jargs)
    indexer.run()
    counters = indexer.getCounters()
    names = ("indexed", "empty", "unindexable", "skipped", "errors")
    return {name: int(getattr(counters, name).get()) for name in names}


def _check_counters(counters: dict[str, int], written: int, dataset: str) -> None:
    failed = counters["unindexable"] + counters["errors"] + counters["skipped"]
    accounted = counters["indexed"] + counters["empty"] + failed
    if failed or accounted != written:
        raise IndexStateError(
            f"bm25 index of {dataset!r}: Anserini indexed {counters['indexed']} of {written} documents "
            f"(empty {counters['empty']}, unindexable {counters['unindexable']}, skipped {counters['skipped']}, "
            f"errors {counters['errors']}); rerun with logging enabled "
            "(logging.getLogger('rankkit_bm25').setLevel('DEBUG')) to see Anserini's messages"
        )


def _index_statistics(lucene: Path) -> dict[str, int]:
    utils = _jvm.autoclass("io.anserini.index.IndexReaderUtils")
    reader = utils.getReader(str(lucene))
    try:
        stats = utils.getIndexStats(reader)
        return {
            "unique_terms": int(stats.get("unique_terms")),
            "total_terms": int(stats.get("total_terms")),
        }
    except Exception:  # noqa: BLE001 - statistics are informative only
        return {}
    finally:
        reader.close()
