"""Component specifications and the protocols components implement.

Plugins describe what they offer with :class:`ComponentSpec` objects; the
registry validates user parameters against each spec's :class:`Param` schema
before calling the factory, so a typo in a TOML file is caught with the list of
valid choices instead of surfacing as a ``TypeError`` deep inside a backend.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

import numpy as np

from rankkit.errors import ConfigError
from rankkit.params import Param, keyed_values  # noqa: F401 - part of the plugin API here since the beginning

if TYPE_CHECKING:  # pragma: no cover
    from rankkit.datasets.base import Dataset
    from rankkit.types import Query, Ranking, Run

ComponentKind = Literal["retriever", "reranker", "scorer", "trainer", "index_builder", "dataset_provider", "model"]
KINDS: tuple[ComponentKind, ...] = (
    "retriever", "reranker", "scorer", "trainer", "index_builder", "dataset_provider", "model"
)

@dataclass(frozen=True)
class ComponentSpec:
    """What a plugin registers: a named factory with a parameter schema.

    The factory must import its heavy dependencies inside its body, so that
    registering a component costs nothing.

    Parameters are declared once, as the fields of a ``settings`` dataclass made with
    :func:`rankkit.params.param` (help, choices, bounds, keyed), and the component is named by its import path
    (``target = "rankkit_bm25.retriever:Bm25Retriever"``), which is imported only when it is built::

        ComponentSpec("retriever", "bm25", summary="BM25 over a Lucene index",
                      target="rankkit_bm25.retriever:Bm25Retriever", settings=Bm25Settings)

    The schema (:attr:`params`), validation, ``rankkit plugins`` and the fingerprint all come from the
    dataclass; the target is called with one settings object (``Bm25Retriever(Bm25Settings(**values))``), whose
    ``__post_init__`` may check rules across fields (``rankkit run`` checks them before any work). A hand-written
    ``factory`` and ``params`` still work (for a factory that is more than a constructor).

    Attributes:
        kind: One of :data:`KINDS`.
        name: The name users write (``"bm25"``, ``"cross-encoder"``).
        factory: Called with the validated parameters; returns the component (made from ``target`` when unset).
        summary: One line shown by ``rankkit plugins``.
        params: The factory's parameter schema (derived from ``settings`` when unset).
        needs_registry: Pass the building :class:`~rankkit.registry.Registry` to the factory as
            ``registry=`` (for components that build other components, e.g. a trainer wrapping a trainer).
        libraries: Distributions whose versions can change the component's results (``"pyserini"``,
            ``"sentence-transformers"``; alternatives as ``"faiss-cpu|faiss-gpu"``). With rankkit's and the
            plugin's own versions they enter the component's fingerprint and every artifact key built from it
            (:mod:`rankkit.versions`), so an upgrade recomputes runs, scores, indexes and models.
    """

    kind: ComponentKind
    name: str
    factory: Callable[..., Any] | None = None
    summary: str = ""
    params: tuple[Param, ...] = field(default=())
    needs_registry: bool = False
    libraries: tuple[str, ...] = ()
    target: str = ""
    settings: type | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"ComponentSpec {self.name!r}: kind must be one of {KINDS}, got {self.kind!r}")
        if self.settings is not None and not self.params:
            from rankkit.params import schema

            object.__setattr__(self, "params", schema(self.settings))
        if self.factory is None:
            if not self.target:
                raise ValueError(f"ComponentSpec {self.name!r}: give a factory or a target ('module:Class')")
            from rankkit.params import lazy_factory

            object.__setattr__(self, "factory", lazy_factory(self.target, self.settings))


def fingerprint(kind: str, name: str, params: Mapping[str, Any]) -> str:
    """A stable hash of a component's kind, name and parameters.

    Caches and run manifests key on it. Paths are hashed as given; values must
    be JSON-serialisable (others are hashed by ``repr``).

    Returns:
        16 hex characters.
    """
    payload = json.dumps({"kind": kind, "name": name, "params": params}, sort_keys=True, default=_json_default)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def _json_default(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, np.generic):
        return value.item()
    return repr(value)


@runtime_checkable
class Retriever(Protocol):
    """Maps queries to rankings from an index."""

    fingerprint: str

    def retrieve(self, queries: Sequence[Query], k: int) -> list[Ranking]:
        """Return the top ``k`` documents for each query, in query order."""
        ...  # pragma: no cover


@runtime_checkable
class Reranker(Protocol):
    """Reorders rankings as a whole (listwise, setwise or score-based)."""

    fingerprint: str

    def rerank(self, queries: Sequence[Query], rankings: Sequence[Ranking]) -> list[Ranking]:
        """Return one reordered ranking per input ranking, in the same order."""
        ...  # pragma: no cover


@runtime_checkable
class RunReporter(Protocol):
    """Optional, for any component: what it did during a run (LLM calls, tokens, fallbacks...).

    After a pipeline run, an experiment stores :meth:`statistics` in the run's
    stamp (``<run>.json``) and calls :meth:`write_traces` with a path beside the
    run file (``<run>.traces.jsonl``). A component keeps what it saw since it
    was built.

    A component that also has ``traces() -> list[dict]`` (JSON-able, one per query) and
    ``summarize(traces) -> dict`` gets resumable reports: an experiment saves each query
    batch's new traces beside its checkpoint, and when a killed run resumes, the traces
    file and the statistics (``summarize`` over all of them) still cover every batch
    (:mod:`rankkit.experiment.reports`).
    """

    def statistics(self) -> dict[str, Any]:
        """JSON-able statistics of the queries processed so far."""
        ...  # pragma: no cover

    def write_traces(self, path: Path) -> None:
        """Write per-query traces (e.g. reasoning) to ``path`` as JSONL, atomically."""
        ...  # pragma: no cover


@runtime_checkable
class Scorer(Protocol):
    """Gives each (query text, document text) pair a relevance score."""

    fingerprint: str

    def score(self, query: str, documents: Sequence[str]) -> np.ndarray:
        """Score ``documents`` against ``query``; returns one float per document."""
        ...  # pragma: no cover


@runtime_checkable
class TunedScorer(Protocol):
    """A scorer whose model carries interpolation weights chosen on validation data held out of its training.

    A scorer stage with ``interpolation = "tuned"`` combines with the first stage using them.
    """

    def tuned_interpolation(self) -> Mapping[str, Any] | None:
        """``{"query_weight", "rescore_query_weight", "normalization"}`` (plus how they were chosen), or ``None``."""
        ...  # pragma: no cover


@runtime_checkable
class DocStore(Protocol):
    """Gives document texts by id."""

    def get_many(self, doc_ids: Sequence[str]) -> list[str]:
        """Texts of ``doc_ids``; raises :class:`~rankkit.errors.MissingDocumentError` for a missing id."""
        ...  # pragma: no cover


@runtime_checkable
class IndexBuilder(Protocol):
    """Builds an index for a dataset into a directory."""

    version: str

    def build(self, dataset: Dataset, target: Path) -> dict[str, Any]:
        """Build into ``target`` (an empty directory) and return statistics for the manifest.

        A build that went on from earlier work (a resumable encoding an interrupted build left, say) returns
        ``"resumed": True`` among them, so ``rankkit run`` says the index was resumed rather than built.
        """
        ...  # pragma: no cover


@runtime_checkable
class VerifiableIndexBuilder(Protocol):
    """An index builder whose index can be lost or changed outside its folder (e.g. an index in a search server).

    The build stamp only proves that the folder was complete when it was built.
    For a builder that offers :meth:`verify`, :func:`rankkit.indexes.ensure_index`
    checks an already-stamped index and rebuilds it when it is no longer usable,
    and :func:`rankkit.indexes.list_indexes` reports it as ``stale``.
    """

    def verify(self, target: Path) -> str | None:
        """Why the built index described by the folder ``target`` is no longer usable, or ``None`` when it is.

        The answer is one line without the fix (the core adds how to rebuild), e.g.
        ``"index 'x' is missing on server http://127.0.0.1:9200"``.
        """
        ...  # pragma: no cover


@runtime_checkable
class DatasetProvider(Protocol):
    """Resolves dataset names (``beir/scifact/test``) to datasets."""

    def resolve(self, name: str) -> Dataset | None:
        """Return the dataset, or ``None`` when this provider does not know the name."""
        ...  # pragma: no cover


@runtime_checkable
class Trainer(Protocol):
    """Fits a scorer or reranker and saves it to a directory."""

    def train(self, dataset: Dataset, output: Path, candidates: Run | None = None) -> dict[str, Any]:
        """Train on ``dataset``'s training qrels and save the model into ``output`` (an empty folder).

        Args:
            dataset: Queries, corpus and the qrels to learn from.
            output: Where the model goes; the core renames it into place when training returns.
            candidates: A first-stage run over the training queries (negatives come from it), when configured.

        Returns:
            Statistics recorded in the model's stamp (steps, loss, skipped queries...).
        """
        ...  # pragma: no cover


def training_judgments(dataset: Dataset) -> dict[str, dict[str, int]]:
    """The judgments a trainer learns from, ``{query_id: {doc_id: grade}}``.

    Raises:
        ConfigError: When ``dataset`` has no qrels (a split without judgments).
    """
    qrels = dataset.qrels()
    if qrels is None:
        raise ConfigError(f"dataset {dataset.name!r} has no qrels to train on; name a split with judgments")
    return qrels.to_dict()


def judged_split(labels: Mapping[str, int], ranking: Any | None) -> tuple[list[str], list[str]]:
    """A training query's positives and its pool of negatives.

    Args:
        labels: The query's judgments (``{doc_id: grade}``).
        ranking: Its first-stage :class:`~rankkit.types.Ranking`, or ``None`` without a first stage.

    Returns:
        The relevant documents (sorted), and the negatives: the first-stage documents not judged
        relevant, in rank order without repeats; without a first stage, the judged non-relevant ones.
    """
    positives = sorted(d for d, r in labels.items() if r > 0)
    if ranking is None:
        return positives, sorted(d for d, r in labels.items() if r <= 0)
    return positives, list(dict.fromkeys(d for d in ranking.doc_ids.tolist() if labels.get(d, 0) <= 0))


@dataclass
class SkippedQueries:
    """What a trainer's data builder left out, by reason, never silently (base of training sets).

    Attributes:
        skipped: Count of skipped queries by reason.
        examples: The first few skipped query ids by reason, for the log and the model's stamp.
    """

    skipped: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[str]] = field(default_factory=dict)

    #: Query ids kept per reason in :attr:`examples`.
    shown = 5

    def skip(self, reason: str, query_id: str) -> None:
        """Count a skipped query."""
        self.skipped[reason] = self.skipped.get(reason, 0) + 1
        if len(self.examples.setdefault(reason, [])) < self.shown:
            self.examples[reason].append(query_id)


@dataclass(frozen=True)
class TrainingSample:
    """One training example as a trainer forms it: a query with one or more documents and their labels.

    A pointwise sample has one document; a pairwise sample has a relevant and a
    non-relevant document (in that order); a listwise sample has several.

    Attributes:
        query_id: The query.
        doc_ids: The documents of the example.
        labels: Their relevance labels, parallel to ``doc_ids``.
    """

    query_id: str
    doc_ids: tuple[str, ...]
    labels: tuple[int, ...]


@dataclass(frozen=True)
class TrainingProgress:
    """Where a training run stands when a batch is weighted.

    Attributes:
        step: Optimiser steps done so far (0 for the first batch).
        total_steps: Steps the run will take.
        steps_per_epoch: Steps in one pass over the training samples.
    """

    step: int
    total_steps: int
    steps_per_epoch: int

    @property
    def epoch(self) -> float:
        """Epochs done so far (fractional)."""
        return self.step / max(self.steps_per_epoch, 1)


@runtime_checkable
class SampleWeighter(Protocol):
    """Weights training samples as training progresses (curricula, importance weighting).

    A trainer that offers :class:`WeightableTrainer` calls :meth:`prepare` once
    and :meth:`weights` for every batch, and multiplies each sample's loss by
    its weight. It needs to know nothing else about the weighter.
    """

    fingerprint: str

    def prepare(self, dataset: Dataset, candidates: Run | None) -> dict[str, Any]:
        """Called once before training; returns statistics for the model's stamp."""
        ...  # pragma: no cover

    def weights(self, samples: Sequence[TrainingSample], progress: TrainingProgress) -> np.ndarray:
        """One non-negative weight per sample of a batch."""
        ...  # pragma: no cover


@runtime_checkable
class ResumableTrainer(Protocol):
    """A trainer that saves checkpoints as it goes and, given the same folder again, resumes from the latest one.

    :func:`rankkit.experiment.training.ensure_trained` hands it a folder named by
    the training's key, which outlives an interrupted run and is deleted once
    the model is in place; a changed section (another key) starts afresh.
    """

    def with_checkpoints(self, folder: Path) -> Trainer:
        """A trainer like this one that checkpoints into ``folder`` (created when missing) and resumes from it."""
        ...  # pragma: no cover


@runtime_checkable
class WeightableTrainer(Protocol):
    """A trainer that can scale each sample's loss by a :class:`SampleWeighter`'s weight."""

    def with_sample_weighter(self, weighter: SampleWeighter) -> Trainer:
        """A trainer like this one whose loss is weighted by ``weighter``."""
        ...  # pragma: no cover
