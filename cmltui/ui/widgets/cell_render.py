"""One table cell rendered as Rich would, without Rich's layers of renderables.

DataTable renders a cell as ``Styled(Padding(cell, (0, padding)), pre, post)`` through
``console.render_lines``: four renderables, two line splits and two croppings per cell. For the
fleet table's cells (one line of ``Text``, no padding, rows one line high) that came to ~0.4 ms a
cell while a refresh ran, and the cells that change on a refresh (CPU, memory, idle, cost...) are
most of what the UI paints then (bench/loop_lag.py, profiled). The steps below are the ones
those layers take for such a cell, in the same order, so the segments are the same
(tests/ui/test_cell_render.py compares them with DataTable's own for every column).
"""

from __future__ import annotations

from rich.console import Console, ConsoleOptions, JustifyMethod, OverflowMethod
from rich.segment import Segment
from rich.style import Style
from rich.text import Text

#: Rich's defaults when neither the text nor the options say (rich.text).
_DEFAULT_JUSTIFY: JustifyMethod = "default"
_DEFAULT_OVERFLOW: OverflowMethod = "fold"
_LINE_SEPARATOR = Text("\n")


def render_one_line_cell(
    console: Console,
    options: ConsoleOptions,
    cell: Text,
    width: int,
    pre_style: Style,
    post_style: Style | None,
) -> list[list[Segment]] | None:
    """The single line of ``cell`` in a cell ``width`` wide, styled ``pre_style`` beneath and
    ``post_style`` above; None when the cell is not one line (the caller then asks Rich)."""
    if width < 1 or "\n" in cell.plain:
        return None
    # Text.__rich_console__: wrap (here: justify, expand tabs, truncate) and join the lines.
    tab_size = console.tab_size if cell.tab_size is None else cell.tab_size
    lines = cell.wrap(
        console,
        width,
        justify=cell.justify or options.justify or _DEFAULT_JUSTIFY,
        overflow=cell.overflow or options.overflow or _DEFAULT_OVERFLOW,
        tab_size=tab_size or 8,
        no_wrap=cell.no_wrap if cell.no_wrap is not None else True,
    )
    # The row is one line high: what a wrap made below the first line is cropped away.
    segments = list(_LINE_SEPARATOR.join(lines[:1]).render(console, end=""))
    # Padding (no padding) and render_lines: the line cut or padded to the cell's width.
    segments = Segment.adjust_line_length(segments, width, style=Style.null())
    # Styled: the table's styles beneath and above the cell's own.
    return [list(Segment.apply_style(segments, style=pre_style, post_style=post_style))]
