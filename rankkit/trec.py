"""TREC run, qrels and topics files: strict streaming readers, atomic writers.

Every reader names the file and line of the first malformed record and says
what it expected there. Writers go through :func:`rankkit.files.atomic_write`
and are deterministic: identical runs give byte-identical files.
"""

from __future__ import annotations

import gzip
import io
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, NamedTuple

import numpy as np

from rankkit.errors import DataFormatError
from rankkit.files import atomic_write
from rankkit.types import Qrels, Query, Ranking, Run

RUN_FORMAT = "'query_id Q0 doc_id rank score tag' (6 whitespace-separated fields)"


class RunLine(NamedTuple):
    """One parsed line of a TREC run file."""

    query_id: str
    doc_id: str
    rank: int
    score: float
    tag: str


def open_text(path: str | Path) -> IO[str]:
    """Open a text file for reading, transparently un-gzipping ``*.gz``."""
    path = Path(path)
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8")
    return open(path, encoding="utf-8")


def iter_run(path: str | Path) -> Iterator[RunLine]:
    """Stream the lines of a TREC run file.

    Args:
        path: The run file (optionally gzipped).

    Yields:
        One :class:`RunLine` per non-empty line.

    Raises:
        DataFormatError: On the first malformed line, naming file and line.
    """
    with open_text(path) as handle:
        for lineno, line in enumerate(handle, 1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 6:
                raise DataFormatError(path, lineno, f"expected {RUN_FORMAT}, got {len(fields)} fields: {line.strip()!r}")
            qid, _, docno, rank, score, tag = fields
            try:
                rank_value = int(rank)
            except ValueError:
                raise DataFormatError(path, lineno, f"rank (field 4) must be an integer, got {rank!r}") from None
            try:
                score_value = float(score)
            except ValueError:
                raise DataFormatError(path, lineno, f"score (field 5) must be a number, got {score!r}") from None
            if score_value != score_value:
                raise DataFormatError(path, lineno, "score (field 5) is NaN")
            yield RunLine(qid, docno, rank_value, score_value, tag)


def read_run(path: str | Path, name: str | None = None) -> Run:
    """Read a whole TREC run file into a :class:`Run`.

    Rankings are re-sorted in trec_eval order (score, then doc id), which is
    how trec_eval and ir-measures read the file too.

    Args:
        path: The run file.
        name: Run tag; defaults to the tag in the file (or the file stem).

    Raises:
        DataFormatError: On a malformed line or a doc id repeated within a query.
    """
    docs: dict[str, list[str]] = {}
    scores: dict[str, list[float]] = {}
    seen: dict[str, set[str]] = {}
    tag = None
    with open_text(path) as handle:
        for lineno, line in enumerate(handle, 1):
            fields = line.split()
            if not fields:
                continue
            try:
                qid, _, docno, rank, score, line_tag = fields
                value = float(score)
                int(rank)
            except ValueError:
                _raise_precise(path)
            if value != value:
                _raise_precise(path)
            if qid not in docs:
                docs[qid], scores[qid], seen[qid] = [], [], set()
            if docno in seen[qid]:
                raise DataFormatError(path, lineno, f"doc {docno!r} appears twice for query {qid!r}")
            seen[qid].add(docno)
            docs[qid].append(docno)
            scores[qid].append(value)
            tag = tag or line_tag
    rankings = (Ranking(q, np.array(docs[q], dtype=str), np.array(scores[q])) for q in docs)
    return Run(rankings, name or tag or Path(path).stem)


def _raise_precise(path: str | Path) -> None:
    """Re-read ``path`` with the strict line parser, which raises the precise file:line error."""
    for _ in iter_run(path):
        pass
    raise AssertionError(f"{path}: the fast reader and the strict reader disagree")  # pragma: no cover


def format_run(run: Run, tag: str | None = None) -> Iterator[str]:
    """The lines of a TREC run file for ``run``, in query order then rank order."""
    tag = tag or run.name
    if not tag or any(c.isspace() for c in tag):
        raise ValueError(f"run tag must be a non-empty string without whitespace, got {tag!r}")
    for ranking in run.values():
        qid = ranking.query_id
        for rank, (doc, score) in enumerate(zip(ranking.doc_ids.tolist(), ranking.scores), 1):
            yield f"{qid} Q0 {doc} {rank} {score} {tag}\n"


def write_run(run: Run, path: str | Path, tag: str | None = None) -> Path:
    """Write ``run`` as a TREC run file, atomically.

    Scores are written as the shortest decimal that reads back to the same
    float32, so reading the file gives the identical run.

    Args:
        run: The run.
        path: Target file.
        tag: Run tag for the last column; defaults to ``run.name``.

    Returns:
        The path written.
    """
    with atomic_write(path) as handle:
        handle.writelines(format_run(run, tag))
    return Path(path)


def _qrels_rows(path: str | Path) -> Iterator[tuple[int, list[str]]]:
    with open_text(path) as handle:
        for lineno, line in enumerate(handle, 1):
            fields = line.split()
            if fields:
                yield lineno, fields


def read_qrels(path: str | Path) -> Qrels:
    """Read qrels in TREC format (``qid iter docno rel``) or BEIR TSV
    (``query-id corpus-id score`` with a header line).

    Raises:
        DataFormatError: On a malformed line or a judgment repeated for the same pair.
    """
    qids: list[str] = []
    docs: list[str] = []
    rels: list[int] = []
    seen: set[tuple[str, str]] = set()
    width = None
    for lineno, fields in _qrels_rows(path):
        if lineno == 1 and fields[:2] == ["query-id", "corpus-id"]:
            width = 3
            continue
        if width is None:
            width = len(fields) if len(fields) in (3, 4) else 4
        if len(fields) != width:
            expected = "'query-id corpus-id score' (BEIR TSV)" if width == 3 else "'query_id iteration doc_id relevance'"
            raise DataFormatError(path, lineno, f"expected {expected}, got {len(fields)} fields: {' '.join(fields)!r}")
        qid, docno, rel = fields[0], fields[-2], fields[-1]
        try:
            grade = int(rel)
        except ValueError:
            raise DataFormatError(path, lineno, f"relevance must be an integer, got {rel!r}") from None
        if (qid, docno) in seen:
            raise DataFormatError(path, lineno, f"judgment for query {qid!r}, doc {docno!r} appears twice")
        seen.add((qid, docno))
        qids.append(qid)
        docs.append(docno)
        rels.append(grade)
    return Qrels(np.array(qids, dtype=object), np.array(docs, dtype=object), np.array(rels, dtype=np.int64))


def write_qrels(qrels: Qrels, path: str | Path) -> Path:
    """Write qrels in TREC format (``qid 0 docno rel``), atomically."""
    with atomic_write(path) as handle:
        for q, d, r in zip(qrels.query_ids.tolist(), qrels.doc_ids.tolist(), qrels.relevance.tolist()):
            handle.write(f"{q} 0 {d} {r}\n")
    return Path(path)


_TAG = re.compile(r"<(/?)(top|num|title|desc|narr)>", re.IGNORECASE)


def read_topics(path: str | Path, field: str = "title") -> list[Query]:
    """Read topics from a TREC SGML topics file or a TSV (``qid<TAB>text``) file.

    Args:
        path: The topics file. A first non-empty line starting with ``<``
            selects the SGML reader, anything else the TSV reader.
        field: For SGML topics: ``title``, ``desc`` or ``narr``.

    Raises:
        DataFormatError: On a malformed line, a topic without id or text, or a repeated id.
    """
    with open_text(path) as handle:
        lines = handle.readlines()
    first = next((line.strip() for line in lines if line.strip()), "")
    queries = _sgml_topics(path, lines, field) if first.startswith("<") else _tsv_topics(path, lines)
    seen: set[str] = set()
    for lineno, query in queries:
        if query.query_id in seen:
            raise DataFormatError(path, lineno, f"topic {query.query_id!r} appears twice")
        seen.add(query.query_id)
    return [q for _, q in queries]


def _tsv_topics(path: str | Path, lines: list[str]) -> list[tuple[int, Query]]:
    out = []
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        parts = line.rstrip("\n").split("\t")
        if len(parts) != 2 or not parts[0].strip() or not parts[1].strip():
            raise DataFormatError(path, lineno, f"expected 'query_id<TAB>text', got {line.strip()!r}")
        out.append((lineno, Query(parts[0].strip(), parts[1].strip())))
    return out


def _sgml_topics(path: str | Path, lines: list[str], field: str) -> list[tuple[int, Query]]:
    out: list[tuple[int, Query]] = []
    current: dict[str, list[str]] | None = None
    section = None
    start = 0
    for lineno, line in enumerate(lines, 1):
        pos = 0
        for match in _TAG.finditer(line):
            if current is not None and section:
                current[section].append(line[pos : match.start()])
            closing, name = match.group(1), match.group(2).lower()
            pos = match.end()
            if name == "top" and not closing:
                if current is not None:
                    raise DataFormatError(path, lineno, "<top> opened before the previous </top> closed")
                current, section, start = {"num": [], "title": [], "desc": [], "narr": []}, None, lineno
            elif name == "top":
                if current is None:
                    raise DataFormatError(path, lineno, "</top> without an opening <top>")
                out.append((start, _topic_from(path, start, current, field)))
                current, section = None, None
            elif current is None:
                raise DataFormatError(path, lineno, f"<{name}> outside a <top> … </top> block")
            else:
                section = None if closing else name
        if current is not None and section:
            current[section].append(line[pos:])
    if current is not None:
        raise DataFormatError(path, len(lines), "file ends inside a <top> block (missing </top>)")
    return out


def _topic_from(path: str | Path, lineno: int, parts: dict[str, list[str]], field: str) -> Query:
    num = " ".join("".join(parts["num"]).split())
    num = re.sub(r"^Number:\s*", "", num, flags=re.IGNORECASE)
    text = " ".join("".join(parts[field]).split())
    text = re.sub(r"^(Topic|Description|Narrative):\s*", "", text, flags=re.IGNORECASE)
    if not num:
        raise DataFormatError(path, lineno, "topic has no <num>")
    if not text:
        raise DataFormatError(path, lineno, f"topic {num!r} has no <{field}> text")
    return Query(num, text)


def write_topics(queries: Iterable[Query], path: str | Path) -> Path:
    """Write topics as TSV (``qid<TAB>text``), atomically."""
    with atomic_write(path) as handle:
        for query in queries:
            text = " ".join(query.text.split())
            handle.write(f"{query.query_id}\t{text}\n")
    return Path(path)
