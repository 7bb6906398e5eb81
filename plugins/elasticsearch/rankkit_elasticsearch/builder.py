"""The ``elasticsearch`` index builder: a rankkit dataset into an ES index, with bulk requests.

The index lives in the server; the folder the core gives the builder gets a
small description of it (``es-index.json``, see :mod:`rankkit_elasticsearch._client`).

* Documents go to a concrete index ``<alias>-<key>`` whose name carries the
  build key (corpus checksum, settings, encoder); the alias ``<alias>`` is
  switched to it atomically once every document is in, and older rankkit-built
  concrete indexes behind the alias are deleted. Searches never see a half-built index.
* Re-running is idempotent: a complete concrete index for the same key is
  reused without re-sending a document, and documents use their ids as ``_id``.
* Bulk chunks rejected with 429 are retried with exponential backoff by the
  client's helper; documents that still fail are retried ``retries`` more times
  with backoff, and any that fail after that are reported by id (a build error,
  or recorded in the manifest when ``allow_failures`` is set). None is lost silently.
* The index can be lost in the server while rankkit's folder stays (a fresh
  server, another ``$RANKKIT_ES_URL``, a deleted index): :meth:`EsIndexBuilder.verify`
  (:class:`~rankkit.components.VerifiableIndexBuilder`) checks it on the server
  searches will use, so ``rankkit index build`` rebuilds it there and
  ``rankkit index list`` reports it as stale. The server is not part of the
  build key: the same content has the same concrete name on every server, and
  "rebuilding" where that index is already complete only re-points the alias.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rankkit.components import fingerprint
from rankkit.errors import IndexStateError, RankkitError
from rankkit.files import atomic_write
from rankkit.types import Document

from rankkit_elasticsearch._client import CONTENTS_FIELD, ID_FIELD, META_FILE, TEXT_FIELDS, es_url, make_client
from rankkit_elasticsearch.encoders import Encoder, as_matrix, load_encoder
from rankkit_elasticsearch.settings import INDEX_NAME_JUNK, EsBuilderSettings

if TYPE_CHECKING:  # pragma: no cover
    from rankkit.datasets.base import Dataset

log = logging.getLogger(__name__)

VERSION = "1"


class BulkFailureError(IndexStateError):
    """Documents that Elasticsearch refused after every retry.

    Attributes:
        failed: Reason by doc id.
    """

    def __init__(self, index: str, failed: dict[str, str]) -> None:
        self.failed = failed
        shown = "; ".join(f"{doc_id}: {reason}" for doc_id, reason in list(failed.items())[:10])
        more = f" (and {len(failed) - 10} more)" if len(failed) > 10 else ""
        super().__init__(
            f"elasticsearch index {index!r}: {len(failed)} document(s) failed after all retries: {shown}{more}. "
            "Fix the documents or the mapping, or set allow_failures = true to build without them "
            "(their ids are then recorded in the index manifest)"
        )


class EsIndexBuilder:
    """Indexes a dataset into Elasticsearch.

    Args:
        settings: The alias searches use (empty: ``rankkit-<dataset name>``); the server (empty:
            ``$RANKKIT_ES_URL``, else ``http://127.0.0.1:9200``; not part of the build key, see :meth:`verify`);
            shards, replicas, BM25 ``k1`` and ``b`` of the index's default similarity; the analyzer of the text
            fields (``standard`` works everywhere; ``english`` needs analysis-common); the encoder that fills a
            ``dense_vector`` field ``vector`` (see :func:`~rankkit_elasticsearch.encoders.load_encoder`; empty:
            no vectors); chunking, retries and failure policy (:class:`~rankkit_elasticsearch.settings.EsBuilderSettings`).
        encoder: An encoder object to use instead of ``settings.encoder`` (Python callers and tests).
    """

    version = VERSION

    def __init__(self, settings: EsBuilderSettings | None = None, *, encoder: Encoder | None = None) -> None:
        settings = settings or EsBuilderSettings()
        self.options = settings
        self.alias, self.url = settings.index, settings.url
        self.shards, self.replicas, self.analyzer = settings.shards, settings.replicas, settings.analyzer
        self.k1, self.b = float(settings.k1), float(settings.b)
        self.encoder_spec = settings.encoder if encoder is None else f"object:{type(encoder).__qualname__}"
        self._encoder: Encoder | None = encoder

    def encoder(self) -> Encoder | None:
        """The encoder, built on first use; ``None`` without one."""
        if self._encoder is None and self.encoder_spec:
            self._encoder = load_encoder(self.encoder_spec)
        return self._encoder

    def settings(self) -> dict[str, Any]:
        """The index settings: shards, replicas and the BM25 default similarity."""
        return {
            "number_of_shards": self.shards,
            "number_of_replicas": self.replicas,
            "similarity": {"default": {"type": "BM25", "k1": self.k1, "b": self.b}},
        }

    def mappings(self, dims: int | None) -> dict[str, Any]:
        """Text fields (copied into ``contents``), the id as a keyword, and the optional vector."""
        text = {"type": "text", "analyzer": self.analyzer, "copy_to": CONTENTS_FIELD}
        props: dict[str, Any] = {
            ID_FIELD: {"type": "keyword"},
            "title": text,
            "text": text,
            CONTENTS_FIELD: {"type": "text", "analyzer": self.analyzer},
        }
        if dims:
            props["vector"] = {"type": "dense_vector", "dims": dims, "index": True, "similarity": "cosine"}
        return {"dynamic": "strict", "properties": props}

    def build(self, dataset: Dataset, target: Path) -> dict[str, Any]:
        """Index ``dataset`` and describe the result in ``target``.

        Returns:
            Statistics for the core's manifest (documents, failed ids, seconds, whether it was reused).

        Raises:
            BulkFailureError: When documents still fail and ``allow_failures`` is off.
            IndexStateError: When the server cannot be reached or refuses the index.
        """
        alias = self.alias or "rankkit-" + INDEX_NAME_JUNK.sub("-", dataset.name.lower()).strip("-.")
        key = fingerprint("es-index", "elasticsearch", {
            "version": VERSION, "corpus": dataset.corpus_checksum(), "settings": self.settings(),
            "analyzer": self.analyzer, "encoder": self.encoder_spec,
        })
        concrete = f"{alias}-{key[:12]}"
        client = make_client(self.url, timeout=120)
        try:
            stats = self._build(client, dataset, alias, concrete, key)
        except RankkitError:
            raise
        except Exception as error:  # the client's transport and API errors
            raise IndexStateError(
                f"elasticsearch builder: {type(error).__name__}: {error} (server {es_url(self.url)}); is it running? "
                "`scripts/elasticsearch.sh start` starts one and prints RANKKIT_ES_URL"
            ) from error
        finally:
            client.close()
        meta = {
            "url": es_url(self.url), "alias": alias, "index": concrete, "key": key, "contents": True, "id_field": True,
            "text_fields": list(TEXT_FIELDS), "vector_field": "vector" if stats["dims"] else None,
            "encoder": self.encoder_spec or None, "dims": stats["dims"], "documents": stats["documents"],
            "failed_ids": stats["failed_ids"], "settings": self.settings(), "analyzer": self.analyzer,
        }
        with atomic_write(target / META_FILE) as handle:
            json.dump(meta, handle, indent=2, sort_keys=True)
        return stats

    def verify(self, target: Path) -> str | None:
        """Whether the index that the folder ``target`` describes is intact on the server searches will use.

        That server is this builder's ``url``, else ``$RANKKIT_ES_URL``, else the recorded one (see
        :func:`~rankkit_elasticsearch._client.es_url`), as for the retrievers. The index is intact when its
        concrete index is there, complete for the recorded build key, holds the recorded number of
        documents, and is behind the alias.

        Returns:
            ``None`` when intact, else what is wrong (without the fix, which the core adds).
        """
        try:
            meta = json.loads((target / META_FILE).read_text(encoding="utf-8"))
            meta = {**meta, "documents": int(meta["documents"]), "index": str(meta["index"]), "alias": str(meta["alias"])}
        except (OSError, ValueError, KeyError, TypeError) as error:
            return f"{target / META_FILE} is unreadable ({type(error).__name__}: {error})"
        url = es_url(self.url, saved=meta.get("url", ""))
        client = make_client(url, timeout=30)
        try:
            return _server_problem(client, url, meta)
        except Exception as error:  # the client's transport and API errors
            return f"server {url} did not answer the check ({type(error).__name__}: {error})"
        finally:
            client.close()

    def _build(self, client: Any, dataset: Dataset, alias: str, concrete: str, key: str) -> dict[str, Any]:
        started = time.time()
        existing = _rankkit_meta(client, concrete)
        if existing.get("complete") and existing.get("key") == key:
            client.indices.refresh(index=concrete)
            count = int(client.count(index=concrete)["count"])
            if count == existing.get("documents"):
                log.info("elasticsearch index %s is already complete (%d documents); reusing it", concrete, count)
                _point_alias(client, alias, concrete)
                return {"documents": count, "failed_ids": existing.get("failed_ids", []), "dims": existing.get("dims"),
                        "reused": True, "seconds": round(time.time() - started, 3)}
        if client.indices.exists(index=concrete):
            client.indices.delete(index=concrete)
        dims, failed, sent = self._index_all(client, dataset, concrete, key)
        if failed and not self.options.allow_failures:
            client.indices.delete(index=concrete, ignore_unavailable=True)
            raise BulkFailureError(concrete, failed)
        client.indices.refresh(index=concrete)
        count = int(client.count(index=concrete)["count"])
        if count != sent - len(failed):
            raise IndexStateError(f"elasticsearch index {concrete!r}: sent {sent - len(failed)} documents but it holds {count}; rebuild")
        done = {"key": key, "complete": True, "documents": count, "failed_ids": sorted(failed), "dims": dims}
        client.indices.put_mapping(index=concrete, meta={"rankkit": done})
        _point_alias(client, alias, concrete)
        return {"documents": count, "failed_ids": sorted(failed), "dims": dims, "reused": False,
                "seconds": round(time.time() - started, 3)}

    def _index_all(self, client: Any, dataset: Dataset, concrete: str, key: str) -> tuple[int | None, dict[str, str], int]:
        from elasticsearch import helpers
        from tqdm.auto import tqdm

        encoder = self.encoder()
        dims: int | None = None
        failed: dict[str, str] = {}
        pending: dict[str, dict[str, Any]] = {}
        sent = 0
        with tqdm(desc=f"indexing {concrete}", unit="doc", disable=None) as bar:
            for batch in _batches(dataset.iter_documents(), self.options.chunk_size):
                sources = [_source(doc) for doc in batch]
                if encoder is not None:
                    vectors = as_matrix(encoder.encode_documents([d.full_text for d in batch]), len(batch), self.encoder_spec)
                    for source, vector in zip(sources, vectors):
                        source["vector"] = vector.tolist()
                    dims = dims or int(vectors.shape[1])
                if sent == 0:
                    client.indices.create(index=concrete, settings=self.settings(), mappings=self.mappings(dims),
                                          timeout="60s", wait_for_active_shards="1")
                    client.indices.put_mapping(index=concrete, meta={"rankkit": {"key": key, "complete": False}})
                actions = [{"_index": concrete, "_id": s[ID_FIELD], "_source": s} for s in sources]
                pending.update((s[ID_FIELD], s) for s in sources)
                for ok, item in helpers.streaming_bulk(
                    client, actions, chunk_size=self.options.chunk_size, max_retries=self.options.retries,
                    initial_backoff=self.options.backoff, raise_on_error=False, raise_on_exception=False,
                ):
                    result = item.get("index", item)
                    doc_id = str(result.get("_id"))
                    if ok:
                        pending.pop(doc_id, None)
                    else:
                        failed[doc_id] = _reason(result)
                sent += len(batch)
                bar.update(len(batch))
        if sent == 0:
            raise IndexStateError(f"dataset {dataset.name!r} has no documents to index")
        failed = self._retry(client, concrete, {i: pending[i] for i in failed if i in pending}, failed)
        return dims, failed, sent

    def _retry(self, client: Any, concrete: str, docs: dict[str, dict[str, Any]], failed: dict[str, str]) -> dict[str, str]:
        from elasticsearch import helpers

        delay = self.options.backoff
        for attempt in range(self.options.retries):
            if not docs:
                break
            log.warning("elasticsearch: retrying %d failed document(s) in %.1f s (round %d)", len(docs), delay, attempt + 1)
            time.sleep(delay)
            delay *= 2
            actions = [{"_index": concrete, "_id": i, "_source": s} for i, s in docs.items()]
            for ok, item in helpers.streaming_bulk(client, actions, raise_on_error=False, raise_on_exception=False,
                                                   max_retries=self.options.retries, initial_backoff=self.options.backoff):
                result = item.get("index", item)
                doc_id = str(result.get("_id"))
                if ok:
                    docs.pop(doc_id, None)
                    failed.pop(doc_id, None)
                else:
                    failed[doc_id] = _reason(result)
        return failed


def _server_problem(client: Any, url: str, meta: dict[str, Any]) -> str | None:
    """What is wrong on the server ``url`` with the index ``meta`` (``es-index.json``) describes, or ``None``."""
    concrete, alias = meta["index"], meta["alias"]
    recorded = meta.get("url") or url
    where = f"on server {url}" if recorded == url else f"on server {url} (it was built on {recorded})"
    existing = _rankkit_meta(client, concrete)
    if not existing:
        return f"elasticsearch index {concrete!r} is missing {where}"
    if not existing.get("complete") or existing.get("key") != meta.get("key"):
        return f"elasticsearch index {concrete!r} {where} is incomplete or holds another build"
    client.options(ignore_status=408).cluster.health(index=concrete, wait_for_status="yellow", timeout="30s")
    count = int(client.count(index=concrete)["count"])
    if count != meta["documents"]:
        return f"elasticsearch index {concrete!r} {where} holds {count} documents, not the {meta['documents']} indexed"
    if not client.indices.exists_alias(name=alias, index=concrete):
        return f"elasticsearch alias {alias!r} {where} does not point to {concrete!r}"
    return None


def _batches(documents: Iterator[Document], size: int) -> Iterator[list[Document]]:
    batch: list[Document] = []
    for doc in documents:
        batch.append(doc)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _source(doc: Document) -> dict[str, Any]:
    return {ID_FIELD: doc.doc_id, "title": doc.title, "text": doc.text}


def _reason(result: dict[str, Any]) -> str:
    error = result.get("error") or result.get("exception") or result
    if isinstance(error, dict):
        return f"{error.get('type', 'error')}: {error.get('reason', error)}"
    return str(error)


def _rankkit_meta(client: Any, concrete: str) -> dict[str, Any]:
    if not client.indices.exists(index=concrete):
        return {}
    mapping = client.indices.get_mapping(index=concrete)
    return dict(((mapping.get(concrete) or {}).get("mappings", {}).get("_meta") or {}).get("rankkit") or {})


def _point_alias(client: Any, alias: str, concrete: str) -> None:
    """Move ``alias`` to ``concrete`` in one request and drop older rankkit-built indexes behind it."""
    if client.indices.exists(index=alias) and not client.indices.exists_alias(name=alias):
        raise IndexStateError(
            f"elasticsearch: {alias!r} is a concrete index, not an alias rankkit manages; choose another `index` name "
            "or delete it"
        )
    old: Sequence[str] = list(client.indices.get_alias(name=alias)) if client.indices.exists_alias(name=alias) else []
    actions: list[dict[str, Any]] = [{"remove": {"index": name, "alias": alias}} for name in old if name != concrete]
    actions.append({"add": {"index": concrete, "alias": alias}})
    client.indices.update_aliases(actions=actions)
    for name in old:
        if name != concrete and name.startswith(f"{alias}-") and _rankkit_meta(client, name):
            client.indices.delete(index=name, ignore_unavailable=True)
