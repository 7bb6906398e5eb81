"""Composition of retrievers, rerankers and scorers into pipelines.

``retriever % 100 >> reranker`` builds a pipeline; :func:`rrf` and
:func:`combsum` fuse pipelines by name. :meth:`Stage.compile` pushes a cutoff
into the retriever in front of it, so ``bm25 % 100`` asks Lucene for 100
documents, not 1,000. Pipelines know no backend: they call the
:class:`~rankkit.components.Retriever`, :class:`~rankkit.components.Reranker`
and :class:`~rankkit.components.Scorer` protocols.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator, Sequence
from typing import Any

from rankkit.components import DocStore, Reranker, Retriever, Scorer, fingerprint
from rankkit.docstore import attach_texts
from rankkit.fusion import Normalization, check_options, combsum as combsum_rankings, reciprocal_rank_fusion
from rankkit.rescore import RescoreSettings, apply_rescore
from rankkit.types import Query, Ranking, Run

DEFAULT_K = 1000


class Stage(abc.ABC):
    """One step of a pipeline: maps queries (and the previous rankings) to rankings."""

    fingerprint: str

    @abc.abstractmethod
    def transform(self, queries: Sequence[Query], rankings: Sequence[Ranking] | None) -> list[Ranking]:
        """Rankings for ``queries``; ``rankings`` are the previous stage's (``None`` for a first stage)."""

    def __call__(self, queries: Sequence[Query], rankings: Sequence[Ranking] | None = None) -> list[Ranking]:
        return self.transform(queries, rankings)

    def __rshift__(self, other: Any) -> Sequential:
        return Sequential([self, as_stage(other)])

    def __rrshift__(self, other: Any) -> Sequential:
        return Sequential([as_stage(other), self])

    def __mod__(self, k: int) -> Sequential:
        return Sequential([self, Cutoff(k)])

    def compile(self) -> Stage:
        """An equivalent, cheaper stage (cutoffs pushed into retrievers)."""
        return self

    def components(self) -> list[Any]:
        """The retrievers, rerankers and scorers inside this stage, in order (for run statistics and traces)."""
        return []

    def run(self, queries: Sequence[Query], batch_size: int = 64, name: str = "rankkit") -> Run:
        """Run over all queries in batches and collect a :class:`Run`."""
        stage = self.compile()
        rankings: list[Ranking] = []
        for batch in batched(queries, batch_size):
            rankings.extend(stage(batch))
        return Run(rankings, name)


def batched(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    """Consecutive slices of ``items`` of at most ``size`` elements."""
    if size < 1:
        raise ValueError(f"batch size must be at least 1, got {size}")
    for start in range(0, len(items), size):
        yield items[start : start + size]


class RetrieverStage(Stage):
    """A first stage: asks a retriever for the top ``k``.

    Args:
        retriever: Any :class:`~rankkit.components.Retriever`.
        k: How many documents to retrieve per query.
    """

    def __init__(self, retriever: Retriever, k: int = DEFAULT_K) -> None:
        self.retriever = retriever
        self.k = k
        self.fingerprint = fingerprint("stage", "retrieve", {"of": retriever.fingerprint, "k": k})

    def transform(self, queries: Sequence[Query], rankings: Sequence[Ranking] | None) -> list[Ranking]:
        if rankings is not None:
            raise ValueError("a retriever must be the first stage of a pipeline (fuse retrievers with rrf/combsum)")
        out = self.retriever.retrieve(list(queries), self.k)
        if len(out) != len(queries):
            raise ValueError(f"retriever returned {len(out)} rankings for {len(queries)} queries")
        return out

    def components(self) -> list[Any]:
        return [self.retriever]

    def __repr__(self) -> str:
        return f"RetrieverStage({type(self.retriever).__name__}, k={self.k})"


class RerankerStage(Stage):
    """Applies a reranker to the previous stage's rankings.

    Args:
        reranker: Any :class:`~rankkit.components.Reranker`.
        docs: Where document texts come from when rankings carry none (rerankers read texts).
    """

    def __init__(self, reranker: Reranker, docs: DocStore | None = None) -> None:
        self.reranker = reranker
        self.docs = docs
        self.fingerprint = fingerprint("stage", "rerank", {"of": reranker.fingerprint})

    def transform(self, queries: Sequence[Query], rankings: Sequence[Ranking] | None) -> list[Ranking]:
        if rankings is None:
            raise ValueError("a reranker needs a first stage before it (e.g. bm25 % 100 >> reranker)")
        rankings = list(rankings)
        if self.docs is not None:
            rankings = [r if r.texts is not None else attach_texts(r, self.docs) for r in rankings]  # type: ignore[arg-type]
        return self.reranker.rerank(list(queries), rankings)

    def components(self) -> list[Any]:
        return [self.reranker]

    def __repr__(self) -> str:
        return f"RerankerStage({type(self.reranker).__name__})"


class Cutoff(Stage):
    """Keeps the top ``k`` of each ranking."""

    def __init__(self, k: int) -> None:
        if not isinstance(k, int) or k < 1:
            raise ValueError(f"cutoff must be a positive integer, got {k!r}")
        self.k = k
        self.fingerprint = fingerprint("stage", "cutoff", {"k": k})

    def transform(self, queries: Sequence[Query], rankings: Sequence[Ranking] | None) -> list[Ranking]:
        if rankings is None:
            raise ValueError("a cutoff needs a stage before it")
        return [r.top(self.k) for r in rankings]

    def __repr__(self) -> str:
        return f"Cutoff({self.k})"


class Sequential(Stage):
    """Stages applied one after the other."""

    def __init__(self, stages: Sequence[Stage]) -> None:
        flat: list[Stage] = []
        for stage in stages:
            flat.extend(stage.stages if isinstance(stage, Sequential) else [stage])
        if not flat:
            raise ValueError("a pipeline needs at least one stage")
        self.stages = flat
        self.fingerprint = fingerprint("stage", "sequential", {"of": [s.fingerprint for s in flat]})

    def transform(self, queries: Sequence[Query], rankings: Sequence[Ranking] | None) -> list[Ranking]:
        for stage in self.stages:
            rankings = stage(queries, rankings)
        return list(rankings or [])

    def compile(self) -> Stage:
        compiled: list[Stage] = []
        for stage in (s.compile() for s in self.stages):
            previous = compiled[-1] if compiled else None
            if isinstance(stage, Cutoff) and isinstance(previous, RetrieverStage):
                compiled[-1] = RetrieverStage(previous.retriever, min(previous.k, stage.k))
            elif isinstance(stage, Cutoff) and isinstance(previous, Cutoff):
                compiled[-1] = Cutoff(min(previous.k, stage.k))
            else:
                compiled.append(stage)
        return compiled[0] if len(compiled) == 1 else Sequential(compiled)

    def __repr__(self) -> str:
        return " >> ".join(map(repr, self.stages))

    def components(self) -> list[Any]:
        return [c for stage in self.stages for c in stage.components()]


def score_window(scorer: Scorer, query: str, texts: list[str], doc_ids: list[str]) -> Any:
    """``scorer``'s scores of ``texts``, passing the documents' ids to a scorer that asks for them
    (``by_document``: e.g. one that picks a model by each document's language)."""
    if getattr(scorer, "by_document", False):
        return scorer.score(query, texts, doc_ids=doc_ids)  # type: ignore[call-arg]
    return scorer.score(query, texts)


class ScorerReranker(Stage):
    """The generic adapter that turns any scorer into a reranker.

    The scorer rescores the top ``window_size`` documents of each ranking and
    the scores combine with Elasticsearch's rescore semantics (see
    :mod:`rankkit.rescore`). Chain several with ``>>``: each rescores the
    previous one's output.

    Args:
        scorer: Any :class:`~rankkit.components.Scorer` (wrap it in
            :class:`~rankkit.cache.CachedScorer` to cache scores).
        docs: Where document texts come from when rankings carry none.
        settings: Window and score combination.
    """

    def __init__(self, scorer: Scorer, docs: DocStore | None = None, settings: RescoreSettings | None = None) -> None:
        self.scorer = scorer
        self.docs = docs
        self.settings = settings or RescoreSettings()
        # normalization "none" stays out of the fingerprint: stages from before it existed keep theirs
        params = {"of": scorer.fingerprint, **{k: v for k, v in vars(self.settings).items() if (k, v) != ("normalization", "none")}}
        self.fingerprint = fingerprint("stage", "rescore", params)

    def rerank(self, queries: Sequence[Query], rankings: Sequence[Ranking]) -> list[Ranking]:
        """Rescore each ranking's window (the :class:`~rankkit.components.Reranker` protocol)."""
        windows = []
        for query, ranking in zip(queries, rankings):
            window = ranking.top(self.settings.window_size)
            if self.docs is not None:
                window = attach_texts(window, self.docs)  # type: ignore[arg-type]
            if window.texts is None:
                raise ValueError(
                    f"query {query.query_id!r}: rankings carry no texts and the scorer adapter has no doc store"
                )
            windows.append(window)
        many = getattr(self.scorer, "score_many", None)
        if many is not None and not getattr(self.scorer, "by_document", False):
            scores = many([(q.text, list(w.texts)) for q, w in zip(queries, windows)])
        else:
            scores = [score_window(self.scorer, q.text, list(w.texts), w.doc_ids.tolist()) if len(w) else []
                      for q, w in zip(queries, windows)]
        return [apply_rescore(ranking, new, self.settings) for ranking, new in zip(rankings, scores)]

    def transform(self, queries: Sequence[Query], rankings: Sequence[Ranking] | None) -> list[Ranking]:
        if rankings is None:
            raise ValueError("a scorer needs a first stage before it (e.g. bm25 % 100 >> scorer)")
        return self.rerank(queries, rankings)

    def components(self) -> list[Any]:
        inner = getattr(self.scorer, "scorer", None)  # a CachedScorer's wrapped scorer
        return [self.scorer] + ([inner] if inner is not None else [])

    def __repr__(self) -> str:
        return f"ScorerReranker({type(self.scorer).__name__}, window={self.settings.window_size})"


class Fusion(Stage):
    """Runs several pipelines on the same input and fuses their rankings per query."""

    def __init__(self, stages: Sequence[Stage], method: str, **options: Any) -> None:
        if len(stages) < 2:
            raise ValueError("fusion needs at least two pipelines")
        self.stages = [as_stage(s) for s in stages]
        self.method = method
        self.options = check_options(method, len(self.stages), options)
        self.fingerprint = fingerprint(
            "stage", f"fusion-{method}", {"of": [s.fingerprint for s in self.stages], **options}
        )

    def compile(self) -> Stage:
        return Fusion([s.compile() for s in self.stages], self.method, **self.options)

    def transform(self, queries: Sequence[Query], rankings: Sequence[Ranking] | None) -> list[Ranking]:
        outputs = [stage(queries, rankings) for stage in self.stages]
        fuse = reciprocal_rank_fusion if self.method == "rrf" else combsum_rankings
        return [fuse(list(per_query), **self.options) for per_query in zip(*outputs)]

    def __repr__(self) -> str:
        return f"{self.method}({', '.join(map(repr, self.stages))})"

    def components(self) -> list[Any]:
        return [c for stage in self.stages for c in stage.components()]


def rrf(*pipelines: Any, k: int = 60, depth: int | None = None) -> Fusion:
    """Reciprocal rank fusion of pipelines (see :func:`rankkit.fusion.reciprocal_rank_fusion`)."""
    return Fusion(pipelines, "rrf", k=k, depth=depth)


def combsum(*pipelines: Any, weights: Sequence[float] | None = None, normalization: Normalization = "minmax") -> Fusion:
    """Weighted CombSUM of normalised scores (see :func:`rankkit.fusion.combsum`)."""
    return Fusion(pipelines, "combsum", weights=list(weights) if weights else None, normalization=normalization)


def as_stage(component: Any) -> Stage:
    """Wrap a retriever, reranker or stage into a :class:`Stage`.

    Scorers need a doc store and a window: wrap them in :class:`ScorerReranker`.

    Raises:
        TypeError: For anything else, saying what is accepted.
    """
    if isinstance(component, Stage):
        return component
    if isinstance(component, Retriever):
        return RetrieverStage(component)
    if isinstance(component, Reranker):
        return RerankerStage(component)
    if isinstance(component, Scorer):
        raise TypeError("wrap a scorer in ScorerReranker(scorer, docs, settings) to use it as a reranker")
    raise TypeError(f"cannot compose {type(component).__name__}: expected a Stage, Retriever or Reranker")


class Composable:
    """Mixin that gives components ``>>`` and ``%``, so ``bm25 % 100 >> reranker`` works.

    Retrievers and rerankers from plugins inherit it; it adds no state.
    """

    def __rshift__(self, other: Any) -> Sequential:
        return as_stage(self) >> other

    def __rrshift__(self, other: Any) -> Sequential:
        return as_stage(other) >> as_stage(self)

    def __mod__(self, k: int) -> Sequential:
        return as_stage(self) % k
