"""Where completions come from: a local transformers causal LM, or an OpenAI-compatible chat endpoint.

Both take chat messages (:func:`rankkit_reasoning.prompts.build_messages`) and
return :class:`Generation` objects: the completion text and its token counts.
Neither imports torch, transformers or httpx before its first generation. This
module gathers the public names; the backends live in
:mod:`rankkit_reasoning.local` and :mod:`rankkit_reasoning.endpoint`, their
shared types in :mod:`rankkit_reasoning.generation`.

A backend that cannot answer (the endpoint is down, times out, or answers
garbage, after its retries) raises :class:`BackendError`; the reranker then
marks the query failed and goes on.
"""

from __future__ import annotations

from rankkit_reasoning.endpoint import OpenAIBackend, RetryPolicy
from rankkit_reasoning.generation import Backend, BackendError, Generation, GenerationSettings
from rankkit_reasoning.local import TransformersBackend, locate_model

__all__ = [
    "Backend", "BackendError", "Generation", "GenerationSettings", "OpenAIBackend", "RetryPolicy",
    "TransformersBackend", "locate_model",
]
