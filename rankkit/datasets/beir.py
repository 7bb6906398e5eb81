"""Datasets in BEIR layout: ``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv``, ``runs/*.trec``."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path

from rankkit.datasets.base import Dataset
from rankkit.errors import DataFormatError, DatasetNotFoundError
from rankkit.files import file_checksum
from rankkit.trec import open_text, read_qrels
from rankkit.types import Document, Qrels, Query


def iter_jsonl_records(path: Path, required: tuple[str, ...]) -> Iterator[tuple[int, dict]]:
    """Stream the records of a JSONL file strictly.

    Every line must be a JSON object with a non-empty string ``_id`` and the
    ``required`` fields; ids must be unique.

    Yields:
        ``(line number, record)`` pairs.

    Raises:
        DataFormatError: Naming file and line of invalid JSON, a missing field or a duplicate id.
    """
    seen: dict[str, int] = {}
    with open_text(path) as handle:
        for lineno, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise DataFormatError(path, lineno, f"invalid JSON ({error.msg} at column {error.colno})") from None
            if not isinstance(record, dict):
                raise DataFormatError(path, lineno, f"expected a JSON object, got {type(record).__name__}")
            doc_id = record.get("_id")
            if not isinstance(doc_id, str) or not doc_id.strip():
                raise DataFormatError(path, lineno, "record has no '_id' (a non-empty string is required)")
            for key in required:
                if not isinstance(record.get(key), str):
                    raise DataFormatError(path, lineno, f"record {doc_id!r} has no string field {key!r}")
            if doc_id in seen:
                raise DataFormatError(path, lineno, f"duplicate _id {doc_id!r} (first on line {seen[doc_id]})")
            seen[doc_id] = lineno
            yield lineno, record


class BeirDataset(Dataset):
    """A collection folder in BEIR layout.

    Args:
        name: The resolved name.
        root: Folder holding ``corpus.jsonl`` and ``queries.jsonl``.
        qrels_dir: Folder holding ``<split>.tsv`` (defaults to ``root/qrels``).
        split: The qrels split; ``None`` picks ``test`` or the only split there is.
        queries_root: Folder whose ``queries.jsonl`` is used instead of ``root``'s:
            for cross-lingual pairs of parallel collections (queries in one
            language, documents in another, shared ids and qrels).
    """

    def __init__(
        self, name: str, root: Path, qrels_dir: Path | None = None, split: str | None = None,
        queries_root: Path | None = None,
    ) -> None:
        self.name = name
        self.root = Path(root)
        self.queries_root = Path(queries_root) if queries_root else self.root
        self.qrels_dir = Path(qrels_dir) if qrels_dir else self.root / "qrels"
        for required in (self.root / "corpus.jsonl", self.queries_root / "queries.jsonl"):
            if not required.is_file():
                raise DatasetNotFoundError(f"{required.parent} is not a BEIR-layout dataset: {required.name} is missing")
        self.split = split if split is not None else self._default_split()
        if self.split is not None and not self.qrels_path.is_file():
            raise DatasetNotFoundError(
                f"dataset {name!r}: no qrels split {self.split!r} in {self.qrels_dir}; "
                f"available splits: {', '.join(self.splits()) or 'none'}"
            )

    def splits(self) -> list[str]:
        """The qrels splits available."""
        return sorted(p.stem for p in self.qrels_dir.glob("*.tsv")) if self.qrels_dir.is_dir() else []

    def _default_split(self) -> str | None:
        splits = self.splits()
        if "test" in splits:
            return "test"
        return splits[0] if len(splits) == 1 else None

    @property
    def corpus_path(self) -> Path:
        """The ``corpus.jsonl`` file."""
        return self.root / "corpus.jsonl"

    @property
    def qrels_path(self) -> Path:
        """The qrels file of this split."""
        return self.qrels_dir / f"{self.split}.tsv"

    def iter_documents(self) -> Iterator[Document]:
        """Stream ``corpus.jsonl`` strictly (see :func:`iter_jsonl_records`)."""
        for _, record in iter_jsonl_records(self.corpus_path, ("text",)):
            title = record.get("title") or ""
            yield Document(record["_id"], record["text"], title if isinstance(title, str) else str(title))

    @cached_property
    def _all_queries(self) -> list[Query]:
        return [Query(r["_id"], r["text"]) for _, r in iter_jsonl_records(self.queries_root / "queries.jsonl", ("text",))]

    def queries(self) -> list[Query]:
        """Queries judged in this split (all queries when there is no split)."""
        if self.split is None:
            return list(self._all_queries)
        judged = self._qrels.query_id_set()
        return [q for q in self._all_queries if q.query_id in judged]

    @cached_property
    def _qrels(self) -> Qrels:
        return read_qrels(self.qrels_path)

    def qrels(self) -> Qrels | None:
        """Judgments of this split."""
        return None if self.split is None else self._qrels

    def run_files(self) -> dict[str, Path]:
        """``runs/*.trec`` files by stem."""
        runs = self.root / "runs"
        if not runs.is_dir():
            runs = self.qrels_dir.parent / "runs"
        return {p.stem: p for p in sorted(runs.glob("*.trec"))} if runs.is_dir() else {}

    def corpus_checksum(self) -> str:
        """SHA-256 of ``corpus.jsonl``."""
        return file_checksum(self.corpus_path)

    def checksum(self) -> str:
        """SHA-256 over corpus, queries and this split's qrels."""
        paths = [self.corpus_path, self.queries_root / "queries.jsonl"]
        if self.split is not None:
            paths.append(self.qrels_path)
        return hashlib.sha256(file_checksum(*paths).encode()).hexdigest()
