"""Parsing measure specifications into ir-measures ``Measure`` objects.

A specification is what users type: ``"nDCG@10 RR@10 R@100 AP"``, the same
with commas, or a list of such strings. Measure names and parameters follow
ir-measures exactly (``AP(rel=2)@100``, ``P(rel=2,judged_only=True)@10``), so
every measure ir-measures knows is accepted and nothing is re-implemented.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Union

from rankkit.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    import ir_measures

#: Shown in every error message about a bad measure.
EXAMPLES = "nDCG@10, RR@10, R@100, AP, P@5, AP(rel=2), nDCG(judged_only=True)@10"

MeasureSpec = Union[str, Sequence[Union[str, "ir_measures.Measure"]]]


def split_spec(spec: str) -> list[str]:
    """Split a measure specification on whitespace and commas outside parentheses.

    Commas inside parentheses separate a measure's parameters, so
    ``"P(rel=2,judged_only=True)@10 AP"`` gives two measures, not three.

    Args:
        spec: The specification string.

    Returns:
        The measure strings, in order, without empty ones.

    Raises:
        ConfigError: On unbalanced parentheses.
    """
    tokens: list[str] = []
    current: list[str] = []
    depth = 0
    for char in spec:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                raise ConfigError(f"measure specification {spec!r} has an unmatched ')'. Examples: {EXAMPLES}")
        if depth == 0 and (char == "," or char.isspace()):
            if current:
                tokens.append("".join(current))
                current = []
            continue
        if not (depth > 0 and char.isspace()):
            current.append(char)
    if depth:
        raise ConfigError(f"measure specification {spec!r} has an unclosed '('. Examples: {EXAMPLES}")
    if current:
        tokens.append("".join(current))
    return tokens


def parse_measure(text: str) -> ir_measures.Measure:
    """Parse one measure string, such as ``"nDCG@10"`` or ``"AP(rel=2)"``.

    Args:
        text: The measure, in ir-measures syntax.

    Returns:
        The ir-measures measure.

    Raises:
        ConfigError: When ir-measures does not know the measure, its syntax is
            malformed, or no installed ir-measures provider computes it.
    """
    import ir_measures

    try:
        measure = ir_measures.parse_measure(text)
        supported = ir_measures.DefaultPipeline.supports(measure)
    except (ValueError, NameError, KeyError, TypeError, SyntaxError, AttributeError, AssertionError) as exc:
        detail = str(exc).strip("'\"") or type(exc).__name__
        raise ConfigError(
            f"bad measure {text!r} ({detail}); write measures in ir-measures syntax "
            f"'Name(param=value)@cutoff', for example: {EXAMPLES}"
        ) from None
    if not supported:
        raise ConfigError(
            f"measure {text!r} is valid ir-measures syntax, but no installed ir-measures provider "
            f"computes it with these parameters; try e.g. {EXAMPLES}"
        )
    return measure


def parse_measures(spec: MeasureSpec) -> list[ir_measures.Measure]:
    """Parse a measure specification into ir-measures measures.

    Args:
        spec: ``"nDCG@10 RR@10 R@100 AP"`` (space and/or comma separated), or a
            sequence whose items are such strings or ``ir_measures.Measure`` objects.

    Returns:
        The measures in the order given, duplicates dropped.

    Raises:
        ConfigError: On an empty specification or a bad measure, naming the bad
            string and giving examples.
    """
    items: list[object] = [spec] if isinstance(spec, str) else list(spec)
    measures: list[ir_measures.Measure] = []
    for item in items:
        if isinstance(item, str):
            measures.extend(parse_measure(token) for token in split_spec(item))
        elif hasattr(item, "NAME") and hasattr(item, "aggregator"):
            measures.append(item)  # type: ignore[arg-type]
        else:
            raise ConfigError(f"bad measure {item!r}: expected a string such as {EXAMPLES}")
    if not measures:
        raise ConfigError(f"no measures given; name at least one, for example: {EXAMPLES}")
    return list(dict.fromkeys(measures))
