"""``POST /rerank`` in the shapes rerank clients already speak: Cohere's, Hugging Face TEI's and ES ``custom``'s.

==================  =============================================  ==============================================
shape               request                                        response
==================  =============================================  ==============================================
Cohere (v1/v2)      ``query``, ``documents`` (strings or            ``{"id", "model", "results": [{"index",
                    ``{"text"}``), ``top_n``, ``return_documents``,  "relevance_score", "document": {"text"}?}]}``
                    ``model`` (a profile)
ES ``custom``       ``query``, ``input``, ``top_n``                 as Cohere's
TEI                 ``query``, ``texts``, ``return_text``           ``[{"index", "score", "text"?}]``
==================  =============================================  ==============================================

Results are best first, ties by input order. ``model`` (or ``profile``) names a
scorer profile; without it the service's default profile scores. Scorer names
and parameters are never taken from a request.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from rankkit_elasticsearch.errors import RescoreError

_KEYS = {"query", "documents", "input", "texts", "top_n", "return_documents", "return_text", "model", "profile",
         "raw_scores", "truncate", "truncation_direction", "max_chunks_per_doc", "rank_fields", "max_tokens_per_doc"}


@dataclass(frozen=True)
class RerankCall:
    """A parsed ``/rerank`` request.

    Attributes:
        query: The query text.
        documents: The texts to rank.
        top_n: How many results to return.
        return_documents: Whether results carry their text.
        profile: The scorer profile to use.
        shape: ``cohere`` (also ES ``custom``) or ``tei``.
    """

    query: str
    documents: list[str]
    top_n: int
    return_documents: bool
    profile: str
    shape: Literal["cohere", "tei"]


def parse_rerank(body: Any, default_profile: str, max_documents: int) -> RerankCall:
    """Check a ``/rerank`` body.

    Raises:
        RescoreError: (400) naming what is wrong.
    """
    if not isinstance(body, Mapping):
        raise RescoreError("the /rerank body must be a JSON object", es_type="parse_exception")
    if "scorer" in body or "params" in body:
        raise RescoreError("/rerank does not take `scorer` or `params`: name a scorer profile with `model` (or `profile`)")
    unknown = sorted(set(body) - _KEYS)
    if unknown:
        raise RescoreError(f"/rerank: unknown key(s) {unknown}; valid: {sorted(_KEYS)}")
    shape: Literal["cohere", "tei"] = "tei" if "texts" in body else "cohere"
    query = body.get("query")
    docs = body.get("texts", body.get("documents", body.get("input")))
    if isinstance(docs, str):
        docs = [docs]
    if isinstance(docs, list):
        docs = [d.get("text") if isinstance(d, Mapping) else d for d in docs]
    if not isinstance(query, str) or not isinstance(docs, list) or not all(isinstance(d, str) for d in docs):
        raise RescoreError("/rerank needs `query` (a string) and `documents` (Cohere: strings or {\"text\": ...}), "
                           "`input` (ES custom) or `texts` (TEI): a list of strings")
    if len(docs) > max_documents:
        raise RescoreError(f"/rerank got {len(docs)} documents; this service takes at most {max_documents}")
    top_n = body.get("top_n")
    if top_n is None:
        top_n = max(len(docs), 1)
    if not isinstance(top_n, int) or isinstance(top_n, bool) or top_n < 1:
        raise RescoreError(f"/rerank: top_n must be a positive integer, got {top_n!r}")
    flag = "return_text" if shape == "tei" else "return_documents"
    returned = body.get(flag, False)
    if not isinstance(returned, bool):
        raise RescoreError(f"/rerank: {flag} must be true or false, got {returned!r}")
    profile = body.get("profile", body.get("model")) or default_profile
    if not isinstance(profile, str) or not profile:
        raise RescoreError("/rerank: name a scorer profile with `model` (this service has no default profile)")
    return RerankCall(query, docs, top_n, returned, profile, shape)


def rerank_response(call: RerankCall, scores: Sequence[float], profile: str) -> Any:
    """The response in the request's shape, best first (ties: input order)."""
    order = sorted(range(len(call.documents)), key=lambda i: (-scores[i], i))
    if call.shape == "tei":
        out = [{"index": i, "score": float(scores[i])} for i in order]
        if call.return_documents:
            for result in out:
                result["text"] = call.documents[result["index"]]
        return out
    results: list[dict[str, Any]] = [{"index": i, "relevance_score": float(scores[i])} for i in order[: call.top_n]]
    if call.return_documents:
        for result in results:
            result["document"] = {"text": call.documents[result["index"]]}
    return {"id": str(uuid.uuid4()), "model": profile, "results": results}
