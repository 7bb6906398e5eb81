"""A griffe extension for the docs build: render Sphinx roles in docstrings as inline code.

rankkit's docstrings are Google style but cross-reference with Sphinx roles
(``:class:`~rankkit.types.Ranking```). Markdown has no such roles, so without
this extension they would show up literally. This turns
``:class:`~rankkit.types.Ranking``` into ```Ranking``` and
``:func:`rankkit.fusion.combsum``` into ```rankkit.fusion.combsum```, and
ends the reStructuredText literal-block marker ``text::`` with one colon
(the indented block after it is already a Markdown code block).

Loaded by mkdocstrings through ``extensions`` in ``mkdocs.yml``; it only
changes the rendered text, never the code.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_LITERAL = re.compile(r"(\S)::[ \t]*\n(?=[ \t]*\n)")
_ROLE = re.compile(r":(?:py:)?(?:class|func|meth|mod|data|attr|exc|obj|const):`(~?)([^`]+)`")


def _replace(match: re.Match[str]) -> str:
    short, target = match.group(1), match.group(2).strip()
    label = target.rsplit(".", 1)[-1] if short else target
    return f"`{label}`"


class SphinxRolesAsCode(griffe.Extension):
    """Rewrite Sphinx roles and ``::`` literal markers in every docstring."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:  # noqa: D102
        if obj.docstring is None:
            return
        text = _ROLE.sub(_replace, obj.docstring.value)
        obj.docstring.value = _LITERAL.sub(r"\1:\n", text)
