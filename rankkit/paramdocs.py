"""Parameter tables for the docs, generated from the one declaration of each component's parameters.

A docs page marks where a component's table goes::

    <!-- rankkit:params retriever bm25 -->
    | parameter | default | allowed | meaning |
    ...
    <!-- /rankkit:params -->

:func:`refresh` rewrites every marked table from the registry (``rankkit plugins --docs PAGE...`` does it for
files), so the docs cannot drift from the schema; a test checks that every first-party page is up to date.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rankkit.params import Param

if TYPE_CHECKING:  # pragma: no cover
    from rankkit.registry import Registry

BLOCK = re.compile(r"(<!-- rankkit:params (\S+) (\S+) -->\n)(.*?)(<!-- /rankkit:params -->)", re.DOTALL)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'`"{value}"`'
    if isinstance(value, (list, dict)):
        return f"`{value!r}`" if value else ("`[]`" if isinstance(value, list) else "`{}`")
    return f"`{value}`" if value is not None else "`None`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(params: Sequence[Param]) -> str:
    """A markdown table of ``params``: name, default, allowed values or bounds, and help (one row each)."""
    lines = ["| parameter | default | allowed | meaning |", "| --- | --- | --- | --- |"]
    for param in params:
        default = "(required)" if param.required else _value(param.default)
        allowed = " / ".join(_value(c) for c in param.choices) if param.choices else (param.bounds or param.type.__name__)
        note = "" if param.keyed is True else (" (not part of keys)" if param.keyed is False else
                                                 " (part of keys only when set)")
        lines.append(f"| `{param.name}` | {default} | {_cell(allowed)} | {_cell(param.help + note)} |")
    return "\n".join(lines) + "\n"


def refresh(text: str, registry: Registry) -> str:
    """``text`` with every marked parameter table regenerated from ``registry``.

    Raises:
        UnknownComponentError: For a marker naming a component the registry does not have.
    """
    def table(match: re.Match[str]) -> str:
        component = registry.get(match.group(2), match.group(3))  # type: ignore[arg-type]
        return match.group(1) + markdown_table(component.spec.params) + match.group(5)

    return BLOCK.sub(table, text)


def marked(text: str) -> list[tuple[str, str]]:
    """The ``(kind, name)`` of every component a page marks a parameter table for."""
    return [(m.group(2), m.group(3)) for m in BLOCK.finditer(text)]
