"""Hook implementations of the example plugin."""

from __future__ import annotations

from rankkit.components import ComponentSpec
from rankkit.hookspecs import hookimpl

from rankkit_example.settings import OverlapSettings


@hookimpl
def rankkit_scorers() -> list[ComponentSpec]:
    """The term-overlap scorer: its class by import path (imported when built) and its settings."""
    return [
        ComponentSpec("scorer", "term-overlap", summary="share of query terms found in the document",
                      target="rankkit_example.overlap:TermOverlapScorer", settings=OverlapSettings)
    ]
