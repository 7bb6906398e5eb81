"""Hook implementations of the example plugin."""

from __future__ import annotations

from rankkit.components import ComponentSpec, Param
from rankkit.hookspecs import hookimpl


def _overlap(lowercase: bool = True, delay: float = 0.0):  # noqa: ANN202
    from rankkit_example.overlap import TermOverlapScorer  # the component's imports happen here, at build time

    return TermOverlapScorer(lowercase=lowercase, delay=delay)


@hookimpl
def rankkit_scorers() -> list[ComponentSpec]:
    """The term-overlap scorer."""
    return [
        ComponentSpec(
            "scorer", "term-overlap", _overlap, "share of query terms found in the document",
            (
                Param("lowercase", bool, True, "compare case-insensitively"),
                Param("delay", float, 0.0, "seconds to sleep per query (for interruption tests)"),
            ),
        )
    ]
