"""Listings for the command line that never cut the values users type (component, plugin and index names).

Rich tables shrink columns to the terminal and end cut cells with an ellipsis. Here the columns users copy are
never wrapped or cut: the other columns wrap (a word too long for its column is folded, never dropped), and when
the terminal is too narrow even for that, or the output is not a terminal (piped, redirected), the rows are
printed as plain tab-separated lines instead.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

#: Columns of a rich table take one space of padding on each side.
_PADDING = 2


def table_width(columns: Sequence[str], rows: Sequence[Sequence[str]], whole: Collection[str], room: int) -> int:
    """The narrowest terminal on which :func:`print_table` draws a table.

    Args:
        columns: Column headers.
        rows: The cells, one sequence per row.
        whole: Columns printed whole.
        room: Width that every other column keeps at least.

    Returns:
        The widest cell (or header) of each ``whole`` column plus ``room`` for each other column, with padding
        and borders.
    """
    widths = []
    for index, column in enumerate(columns):
        if column in whole:
            widths.append(max([cell_len(column), *(cell_len(row[index]) for row in rows)]) + _PADDING)
        else:
            widths.append(room + _PADDING)
    return sum(widths) + len(columns) + 1


def print_table(
    console: Console,
    title: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[str]],
    whole: Collection[str],
    room: int = 12,
) -> None:
    """Print ``rows`` as a table on a wide enough terminal, else as plain tab-separated lines.

    Args:
        console: Where to print; its ``is_terminal`` and ``width`` choose the form.
        title: Title of the table (not printed in the plain form).
        columns: Column headers (the first line of the plain form).
        rows: The cells, one sequence per row, as plain text (never read as rich markup).
        whole: Columns never wrapped, folded or cut: the names users type.
        room: Width every other column keeps at least before the plain form is used.
    """
    if not console.is_terminal or console.width < table_width(columns, rows, whole, room):
        for line in (columns, *rows):
            console.file.write("\t".join(" ".join(cell.split()) for cell in line) + "\n")
        console.file.flush()
        return
    table = Table(title=title)
    for column in columns:
        if column in whole:
            table.add_column(column, no_wrap=True, overflow="ignore")
        else:
            table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(Text(cell) for cell in row))
    console.print(table)
