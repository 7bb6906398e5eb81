"""The rescoring client API: an ordinary ``_search`` whose ``rescore`` list may hold ``rankkit`` entries.

::

    from elasticsearch import Elasticsearch
    from rankkit_elasticsearch.rescoring import search
    from rankkit_elasticsearch.scorers import ScorerPool

    pool = ScorerPool(registry)   # once, over the application's one Registry; reuse it
    response = search(Elasticsearch("http://127.0.0.1:9200"), "scifact", {
        "query": {"match": {"contents": "vitamin d bone density"}},
        "size": 10,
        "rescore": [{"window_size": 100, "rankkit": {"scorer": "cross-encoder", "params": {"model": "..."}}}],
    }, pool)

The response has Elasticsearch's shape; ``hits.hits`` are rescored exactly as
the offline pipeline ``retriever % N >> ScorerReranker(scorer, docs, settings)`` ranks them.
See :mod:`rankkit_elasticsearch.plan` for the entry's keys and semantics.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rankkit_elasticsearch.plan import apply_plan, plan_search
from rankkit_elasticsearch.rerankers import RerankerPool
from rankkit_elasticsearch.scorers import ScorerPool


def search(client: Any, index: str, body: Mapping[str, Any], scorers: ScorerPool,
           rerankers: RerankerPool | None = None) -> dict[str, Any]:
    """Run ``body`` against ``index``, rescoring with its ``rankkit`` rescorers.

    Args:
        client: An ``elasticsearch.Elasticsearch`` client.
        index: Index, alias or comma-separated list, as ES's ``_search`` takes it.
        body: The ``_search`` body.
        scorers: Where scorers come from: ``ScorerPool(registry)`` over the caller's registry, where entries
            name ``scorer`` and ``params``; a pool with profiles takes ``profile`` names. Reuse one across calls.
        rerankers: Reranker profiles entries may name (``"profile": NAME``), e.g.
            ``RerankerPool(registry, [RerankerProfile("r1", "rank-r1", {...}, expose_reasoning=True)])``.

    Returns:
        ES's response (a plain dict); without ``rankkit`` entries, exactly what ES answered.

    Raises:
        RescoreError: For a malformed ``rankkit`` entry or hits without text.
    """
    plan = plan_search(body, scorers, rerankers=rerankers)
    if plan is None:
        return dict(client.search(index=index, body=dict(body)).body)
    response = client.search(index=index, body=plan.upstream_body).body
    return apply_plan(plan, response, scorers, rerankers)
