"""Where completions come from: a local transformers causal LM, or an OpenAI-compatible chat endpoint.

Both take chat messages (:func:`rankkit_reasoning.prompts.build_messages`) and
return :class:`Generation` objects: the completion text and its token counts.
Neither imports torch, transformers or httpx before its first generation. This
module gathers the public names; the backends live in
:mod:`rankkit_reasoning.local` and :mod:`rankkit_reasoning.endpoint`, their
shared types in :mod:`rankkit_reasoning.generation`, their settings in
:mod:`rankkit_reasoning.settings` (:class:`LocalSettings`, :class:`EndpointSettings`).

A backend that cannot answer (the endpoint is down, times out, or answers
garbage, after its retries) raises :class:`BackendError`; the reranker then
marks the query failed and goes on.
"""

from __future__ import annotations

from rankkit_reasoning.endpoint import OpenAIBackend
from rankkit_reasoning.generation import Backend, BackendError, Generation
from rankkit_reasoning.local import TransformersBackend, locate_model
from rankkit_reasoning.settings import EndpointSettings, GenerationSettings, LocalSettings, RetryPolicy

__all__ = [
    "Backend", "BackendError", "EndpointSettings", "Generation", "GenerationSettings", "LocalSettings",
    "OpenAIBackend", "RetryPolicy", "TransformersBackend", "locate_model",
]
