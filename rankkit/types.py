"""Immutable data model shared by every backend: Query, Document, Ranking, Run, Qrels.

Ids and field names follow ir-measures (``query_id``, ``doc_id``, ``score``,
``relevance``); DataFrame interop uses PyTerrier's column names (``qid``,
``query``, ``docno``, ``score``, ``rank``, ``label``).

A :class:`Ranking` holds one query's results as parallel numpy arrays, always in
trec_eval order: decreasing score, ties broken by decreasing doc id (byte
order), so identical inputs give identical orders and byte-identical run files.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

SCORE_DTYPE = np.float32


@dataclass(frozen=True)
class Query:
    """A query: its id and text."""

    query_id: str
    text: str


@dataclass(frozen=True)
class Document:
    """A document: its id, body text and optional title."""

    doc_id: str
    text: str
    title: str = ""

    @property
    def full_text(self) -> str:
        """Title and text joined by a space (just the text when there is no title)."""
        return f"{self.title} {self.text}" if self.title else self.text


def trec_order(doc_ids: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Permutation that puts documents in trec_eval order.

    trec_eval sorts by decreasing score and breaks ties by decreasing doc id
    (``strcmp`` order); this returns the same permutation.

    Args:
        doc_ids: Unicode array of doc ids.
        scores: Scores, parallel to ``doc_ids``.

    Returns:
        Indices that sort both arrays.
    """
    n = len(doc_ids)
    if n < 2:
        return np.arange(n)
    # Fast path for input already sorted by decreasing score (what search engines return):
    # only runs of tied scores need reordering, which avoids a string sort of every doc id.
    decreasing = scores[1:] < scores[:-1]
    if decreasing.all():
        return np.arange(n)
    starts = np.flatnonzero(np.r_[True, decreasing])
    lengths = np.diff(np.r_[starts, n])
    tied = np.flatnonzero(lengths > 1)
    if len(tied) <= _MAX_TIE_RUNS and bool((scores[1:] <= scores[:-1]).all()):
        order = np.arange(n)
        for start, end in zip(starts[tied], starts[tied] + lengths[tied]):
            order[start:end] = start + np.argsort(doc_ids[start:end], kind="stable")[::-1]
        return order
    return np.lexsort((doc_ids, scores))[::-1]


#: At most this many runs of tied scores take :func:`trec_order`'s fast path; more sort everything.
_MAX_TIE_RUNS = 16


@dataclass(frozen=True, eq=False)
class Ranking:
    """One query's ranked documents as parallel arrays, in trec_eval order.

    Attributes:
        query_id: The query these results answer.
        doc_ids: Unicode array of doc ids, best first.
        scores: float32 scores, parallel to ``doc_ids``.
        texts: Optional document texts, parallel to ``doc_ids``.
    """

    query_id: str
    doc_ids: np.ndarray
    scores: np.ndarray
    texts: tuple[str, ...] | None = field(default=None)

    def __post_init__(self) -> None:
        doc_ids = np.asarray(self.doc_ids, dtype=str)
        scores = np.asarray(self.scores, dtype=SCORE_DTYPE)
        if doc_ids.ndim != 1 or doc_ids.shape != scores.shape:
            raise ValueError(
                f"Ranking for query {self.query_id!r}: doc_ids and scores must be 1-D and of equal "
                f"length, got {doc_ids.shape} and {scores.shape}"
            )
        if self.texts is not None and len(self.texts) != len(doc_ids):
            raise ValueError(
                f"Ranking for query {self.query_id!r}: {len(self.texts)} texts for {len(doc_ids)} docs"
            )
        order = trec_order(doc_ids, scores)
        if not np.array_equal(order, np.arange(len(order))):
            doc_ids, scores = doc_ids[order], scores[order]
            if self.texts is not None:
                object.__setattr__(self, "texts", tuple(self.texts[i] for i in order))
        elif self.texts is not None and not isinstance(self.texts, tuple):
            object.__setattr__(self, "texts", tuple(self.texts))
        doc_ids.setflags(write=False)
        scores.setflags(write=False)
        object.__setattr__(self, "query_id", str(self.query_id))
        object.__setattr__(self, "doc_ids", doc_ids)
        object.__setattr__(self, "scores", scores)

    @classmethod
    def batch(cls, query_ids: Sequence[str], doc_ids: np.ndarray, scores: np.ndarray) -> list[Ranking]:
        """One ranking per row of ``(len(query_ids), k)`` arrays, as a search engine returns a batch.

        Rows whose scores strictly decrease are already in trec_eval order: they are checked for the whole batch
        at once and become rankings without the per-ranking check (views of one read-only array). Other rows
        (ties) go through the constructor, which orders them.

        Raises:
            ValueError: When the arrays are not 2-D of one shape with a row per query.
        """
        doc_ids = np.asarray(doc_ids, dtype=str)
        scores = np.asarray(scores, dtype=SCORE_DTYPE)
        if doc_ids.ndim != 2 or doc_ids.shape != scores.shape or len(doc_ids) != len(query_ids):
            raise ValueError(f"Ranking.batch needs 2-D doc_ids and scores of one shape with a row per query; got "
                             f"{doc_ids.shape}, {scores.shape} for {len(query_ids)} queries")
        doc_ids.setflags(write=False)
        scores.setflags(write=False)
        ordered = (scores[:, 1:] < scores[:, :-1]).all(axis=1)
        out = []
        for query_id, ids, values, fast in zip(query_ids, doc_ids, scores, ordered.tolist()):
            if fast:
                ranking = object.__new__(cls)
                for name, value in (("query_id", str(query_id)), ("doc_ids", ids), ("scores", values), ("texts", None)):
                    object.__setattr__(ranking, name, value)
                out.append(ranking)
            else:
                out.append(cls(query_id, ids, values))
        return out

    @classmethod
    def empty(cls, query_id: str) -> Ranking:
        """A ranking with no documents."""
        return cls(query_id, np.empty(0, dtype=str), np.empty(0, dtype=SCORE_DTYPE))

    def __len__(self) -> int:
        return len(self.doc_ids)

    def __iter__(self) -> Iterator[tuple[str, float]]:
        return zip(self.doc_ids.tolist(), self.scores.tolist())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Ranking):
            return NotImplemented
        return (
            self.query_id == other.query_id
            and np.array_equal(self.doc_ids, other.doc_ids)
            and np.array_equal(self.scores, other.scores)
        )

    def __repr__(self) -> str:
        head = ", ".join(f"{d}:{s:.4g}" for d, s in list(self)[:3])
        more = ", ..." if len(self) > 3 else ""
        return f"Ranking(query_id={self.query_id!r}, n={len(self)}, [{head}{more}])"

    def top(self, k: int) -> Ranking:
        """The first ``k`` documents (all of them when there are fewer)."""
        if k >= len(self):
            return self
        texts = None if self.texts is None else self.texts[:k]
        return Ranking(self.query_id, self.doc_ids[:k], self.scores[:k], texts)

    def with_texts(self, texts: Sequence[str]) -> Ranking:
        """The same ranking carrying the given document texts."""
        return Ranking(self.query_id, self.doc_ids, self.scores, tuple(texts))

    def with_scores(self, scores: Sequence[float] | np.ndarray) -> Ranking:
        """The same documents with new scores, re-sorted."""
        return Ranking(self.query_id, self.doc_ids, np.asarray(scores), self.texts)


class Run(Mapping[str, Ranking]):
    """Rankings for many queries: an immutable mapping from query id to :class:`Ranking`.

    Args:
        rankings: The rankings; query order is kept as given.
        name: A run tag, written in the last column of TREC run files.
    """

    def __init__(self, rankings: Iterable[Ranking], name: str = "rankkit") -> None:
        self._rankings: dict[str, Ranking] = {}
        for ranking in rankings:
            if ranking.query_id in self._rankings:
                raise ValueError(f"Run {name!r}: query {ranking.query_id!r} appears twice")
            self._rankings[ranking.query_id] = ranking
        self.name = name

    def __getitem__(self, query_id: str) -> Ranking:
        return self._rankings[query_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._rankings)

    def __len__(self) -> int:
        return len(self._rankings)

    def __repr__(self) -> str:
        return f"Run(name={self.name!r}, queries={len(self)}, docs={self.num_docs})"

    @property
    def num_docs(self) -> int:
        """Total number of (query, document) entries."""
        return sum(len(r) for r in self._rankings.values())

    def rankings(self) -> list[Ranking]:
        """The rankings in query order."""
        return list(self._rankings.values())

    def renamed(self, name: str) -> Run:
        """The same rankings under another run tag."""
        return Run(self._rankings.values(), name)

    def _columns(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        rankings = self.rankings()
        lengths = np.fromiter((len(r) for r in rankings), dtype=np.int64, count=len(rankings))
        qids = np.repeat(np.array([r.query_id for r in rankings], dtype=object), lengths)
        if rankings:
            docs = np.concatenate([r.doc_ids.astype(object) for r in rankings])
            scores = np.concatenate([r.scores for r in rankings])
            ranks = np.concatenate([np.arange(1, n + 1) for n in lengths]) if lengths.sum() else np.empty(0, int)
        else:
            docs, scores, ranks = np.empty(0, object), np.empty(0, SCORE_DTYPE), np.empty(0, int)
        return qids, docs, scores, ranks

    def to_frame(self, queries: Mapping[str, str] | None = None) -> pd.DataFrame:
        """PyTerrier-style DataFrame with columns ``qid, docno, score, rank`` (and ``query``).

        Args:
            queries: Optional query texts by id, added as the ``query`` column.
        """
        import pandas as pd

        qids, docs, scores, ranks = self._columns()
        frame = pd.DataFrame({"qid": qids, "docno": docs, "score": scores.astype(np.float64), "rank": ranks})
        if queries is not None:
            frame.insert(1, "query", frame["qid"].map(queries))
        return frame

    def to_ir_measures(self) -> pd.DataFrame:
        """DataFrame with ir-measures' run columns ``query_id, doc_id, score``."""
        import pandas as pd

        qids, docs, scores, _ = self._columns()
        return pd.DataFrame({"query_id": qids, "doc_id": docs, "score": scores.astype(np.float64)})

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, name: str = "rankkit") -> Run:
        """Build a run from a PyTerrier (``qid, docno, score``) or ir-measures
        (``query_id, doc_id, score``) DataFrame."""
        qcol, dcol = _id_columns(frame, ("qid", "query_id"), ("docno", "doc_id"))
        rankings = [
            Ranking(str(qid), group[dcol].to_numpy(dtype=str), group["score"].to_numpy())
            for qid, group in frame.groupby(qcol, sort=False)
        ]
        return cls(rankings, name)

    @classmethod
    def from_ir_measures(cls, scored_docs: Iterable[Any], name: str = "rankkit") -> Run:
        """Build a run from ir-measures ``ScoredDoc`` tuples (or anything with
        ``query_id``, ``doc_id`` and ``score``)."""
        grouped: dict[str, tuple[list[str], list[float]]] = {}
        for sd in scored_docs:
            docs, scores = grouped.setdefault(str(sd.query_id), ([], []))
            docs.append(str(sd.doc_id))
            scores.append(float(sd.score))
        return cls((Ranking(q, np.array(d, dtype=str), np.array(s)) for q, (d, s) in grouped.items()), name)


def _id_columns(frame: pd.DataFrame, qnames: tuple[str, str], dnames: tuple[str, str]) -> tuple[str, str]:
    for qcol, dcol in zip(qnames, dnames):
        if qcol in frame.columns and dcol in frame.columns:
            return qcol, dcol
    raise ValueError(
        f"DataFrame needs columns {qnames[0]}/{dnames[0]} (PyTerrier) or {qnames[1]}/{dnames[1]} "
        f"(ir-measures); it has {list(frame.columns)}"
    )


@dataclass(frozen=True, eq=False)
class Qrels:
    """Relevance judgments as parallel arrays.

    Attributes:
        query_ids: Query id of each judgment.
        doc_ids: Doc id of each judgment.
        relevance: Integer relevance grade of each judgment.
    """

    query_ids: np.ndarray
    doc_ids: np.ndarray
    relevance: np.ndarray

    def __post_init__(self) -> None:
        q = np.asarray(self.query_ids, dtype=object)
        d = np.asarray(self.doc_ids, dtype=object)
        r = np.asarray(self.relevance, dtype=np.int64)
        if not q.shape == d.shape == r.shape:
            raise ValueError(f"Qrels arrays differ in length: {q.shape}, {d.shape}, {r.shape}")
        object.__setattr__(self, "query_ids", q)
        object.__setattr__(self, "doc_ids", d)
        object.__setattr__(self, "relevance", r)

    def __len__(self) -> int:
        return len(self.query_ids)

    def __repr__(self) -> str:
        return f"Qrels(judgments={len(self)}, queries={len(self.query_id_set())})"

    def query_id_set(self) -> set[str]:
        """The judged query ids."""
        return set(self.query_ids.tolist())

    def restrict(self, query_ids: Iterable[str]) -> Qrels:
        """The judgments of ``query_ids`` only."""
        keep = np.isin(self.query_ids, np.asarray(list(query_ids), dtype=object))
        return Qrels(self.query_ids[keep], self.doc_ids[keep], self.relevance[keep])

    def for_query(self, query_id: str) -> dict[str, int]:
        """Judgments of one query as ``{doc_id: relevance}``."""
        mask = self.query_ids == query_id
        return dict(zip(self.doc_ids[mask].tolist(), self.relevance[mask].tolist()))

    def to_dict(self) -> dict[str, dict[str, int]]:
        """Nested ``{query_id: {doc_id: relevance}}``, as pytrec_eval takes it."""
        out: dict[str, dict[str, int]] = {}
        for q, d, r in zip(self.query_ids.tolist(), self.doc_ids.tolist(), self.relevance.tolist()):
            out.setdefault(q, {})[d] = r
        return out

    def to_frame(self) -> pd.DataFrame:
        """PyTerrier-style DataFrame with columns ``qid, docno, label``."""
        import pandas as pd

        return pd.DataFrame({"qid": self.query_ids, "docno": self.doc_ids, "label": self.relevance})

    def to_ir_measures(self) -> pd.DataFrame:
        """DataFrame with ir-measures' qrels columns ``query_id, doc_id, relevance``."""
        import pandas as pd

        return pd.DataFrame({"query_id": self.query_ids, "doc_id": self.doc_ids, "relevance": self.relevance})

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> Qrels:
        """Build qrels from a PyTerrier (``qid, docno, label``) or ir-measures
        (``query_id, doc_id, relevance``) DataFrame."""
        qcol, dcol = _id_columns(frame, ("qid", "query_id"), ("docno", "doc_id"))
        rcol = "label" if "label" in frame.columns else "relevance"
        return cls(frame[qcol].astype(str).to_numpy(), frame[dcol].astype(str).to_numpy(), frame[rcol].to_numpy())

    @classmethod
    def from_ir_measures(cls, qrels: Iterable[Any]) -> Qrels:
        """Build qrels from ir-measures ``Qrel`` tuples."""
        rows = [(str(q.query_id), str(q.doc_id), int(q.relevance)) for q in qrels]
        if not rows:
            return cls(np.empty(0, object), np.empty(0, object), np.empty(0, np.int64))
        q, d, r = zip(*rows)
        return cls(np.array(q, dtype=object), np.array(d, dtype=object), np.array(r))
