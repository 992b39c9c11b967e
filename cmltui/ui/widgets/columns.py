"""The worker table's columns: fixed widths, a drop priority, a cell renderer and a sort key."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rich.cells import cell_len
from rich.text import Text

from cmltui.domain.enums import CMLServiceStatus, CMLWorkerStatus
from cmltui.services.snapshot import WorkerSnapshot
from cmltui.ui.formatting import (
    PENDING_SERVICE,
    duration,
    license_text,
    pending_service_text,
    percent_text,
    plain,
    service_text,
    shown,
    status_text,
)

#: The table has no cell padding (``cell_padding=0``): each column is its content width plus
#: this one-character gutter, on the side its text does not touch (after left-aligned text,
#: before right-aligned numbers). Two characters per column, as DataTable pads by default,
#: cost a whole column at 120 characters.
GUTTER = 1
_DIGITS = re.compile(r"(\d+)")


def natural_key(value: str | None) -> tuple[Any, ...]:
    """Numeric-aware key: ``w2`` sorts before ``w10`` and ``2.10`` after ``2.9``."""
    if not value:
        return ()
    return tuple(int(part) if part.isdigit() else part.lower() for part in _DIGITS.split(value))


_STATUS_ORDER = {
    status: index
    for index, status in enumerate(
        (
            CMLWorkerStatus.RUNNING,
            CMLWorkerStatus.PENDING,
            CMLWorkerStatus.STOPPING,
            CMLWorkerStatus.STOPPED,
            CMLWorkerStatus.SHUTTING_DOWN,
            CMLWorkerStatus.TERMINATED,
            CMLWorkerStatus.UNKNOWN,
        )
    )
}


def _right(text: str, style: str = "") -> Text:
    return Text(text, style=style, justify="right", no_wrap=True)


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    label: str
    #: The widest content (cells are cut to it with an ellipsis); the gutter comes on top.
    width: int
    #: Lower is more important; on a narrow terminal the highest priorities go first.
    priority: int
    render: Callable[[WorkerSnapshot], Text]
    #: None: the column cannot be sorted on.
    sort_key: Callable[[WorkerSnapshot], Any] | None = None
    justify: str = "left"


#: The name column gets the width the other columns leave, within these bounds (longer names
#: end in "…"; the detail pane has them whole): a long name never pushes a column out.
NAME_MIN_WIDTH = 8
NAME_MAX_WIDTH = 30


def shown_service(snapshot: WorkerSnapshot) -> CMLServiceStatus:
    """The CML service as the operator may believe it: a worker that is not running serves
    nothing, whatever was last heard from it (a pending one may be shown starting)."""
    status = snapshot.service_status
    if snapshot.status == CMLWorkerStatus.RUNNING:
        return status
    if snapshot.status == CMLWorkerStatus.PENDING and status == CMLServiceStatus.STARTING:
        return status
    return CMLServiceStatus.UNAVAILABLE


def service_cell(snapshot: WorkerSnapshot) -> Text:
    """The CML column and the detail's "CML service": ``◌ pending`` until CML first answers
    for a running worker, then the service as ``shown_service`` has it."""
    if snapshot.service_pending:
        return pending_service_text()
    return service_text(shown_service(snapshot))


def _service_sort_key(snapshot: WorkerSnapshot) -> str:
    return PENDING_SERVICE if snapshot.service_pending else shown_service(snapshot).value


def row_warning(snapshot: WorkerSnapshot, width: int | None = None) -> str:
    """What marks the row before the name: ``⚠ detached``, ``⚠`` for problems, or nothing.
    In a name column of ``width`` cells too narrow for ``⚠ detached`` and a few characters of
    the name, a detached row is marked ``⚠`` too (the detail pane's title says which)."""
    if snapshot.detached:
        if width is None or width >= len("⚠ detached ") + NAME_MIN_WIDTH:
            return "⚠ detached "
        return "⚠ "
    if snapshot.problems:
        return "⚠ "
    return ""


def _cells_prefix_length(text: str, cells: int) -> int:
    """How many characters from the start of ``text`` fit in ``cells`` cells."""
    used = 0
    for index, character in enumerate(text):
        used += cell_len(character)
        if used > cells:
            return index
    return len(text)


def middle_cut(text: Text, width: int) -> Text:
    """``text`` in ``width`` cells: whole when it fits, else its start, "…" and its end (the
    end the longer part: names sharing a prefix differ at their end, ``lab-…0042``). Wide
    characters count two cells."""
    if text.cell_len <= width:
        return text
    if width <= 1:
        return Text("…"[:width])
    room = width - 1
    head_cells = room // 2
    head = _cells_prefix_length(text.plain, head_cells)
    tail = _cells_prefix_length(text.plain[::-1], room - cell_len(text.plain[:head]))
    return Text.assemble(text[:head], "…", text[len(text.plain) - tail :])


def name_cell(snapshot: WorkerSnapshot, width: int | None = None) -> Text:
    """The name cell for a column ``width`` cells wide (None: as wide as it takes). A name
    too long for it keeps its start and end around a "…" (see ``middle_cut``); the detail
    pane has it whole."""
    # The warning comes first and whole: only the name is cut.
    warning = row_warning(snapshot, width)
    name = plain(snapshot.name)
    if width is not None:
        name = middle_cut(name, width - cell_len(warning))
    if not warning:
        return name
    return Text.assemble(Text(warning, style="bold red"), name)


def _live(snapshot: WorkerSnapshot, value: Any) -> Any:
    """A telemetry figure only while it is live: sorting puts the rest last."""
    return value if snapshot.telemetry_live else None


def _labs_cell(snapshot: WorkerSnapshot) -> Text:
    if not snapshot.telemetry_live:
        return _right("—", "dim")
    count = snapshot.active_labs_count
    return _right(str(count), "bold" if count else "dim")


def _percent_cell(snapshot: WorkerSnapshot, value: float | None) -> Text:
    return percent_text(value if snapshot.telemetry_live else None)


def _idle_cell(snapshot: WorkerSnapshot) -> Text:
    if snapshot.idle_minutes is None:
        return _right("—", "dim")
    # "z" marks an idle worker so it reads without colour too.
    marker = "z " if snapshot.is_idle else ""
    style = "yellow" if snapshot.is_idle else ""
    return _right(marker + duration(snapshot.idle_minutes * 60), style)


#: Room for ``2.8.1+b6``: CML reports ``2.8.1+build.6``, shown ``2.8.1+b6`` (see
#: ``short_version``; a rarer ``2.10.1+b12`` ends in "…"); the detail pane shows it whole.
#: Every cell more is one less for the name at 120 columns.
VERSION_WIDTH = 8
_BUILD_SUFFIX = re.compile(r"\+build\.?(?=\w)")


def short_version(version: str, width: int = VERSION_WIDTH) -> str:
    """The version as it fits in ``width``, its build kept: ``2.8.1+build.6`` -> ``2.8.1+b6``
    (only when the whole text does not fit)."""
    if len(version) <= width:
        return version
    return _BUILD_SUFFIX.sub("+b", version, count=1)


def _version_cell(snapshot: WorkerSnapshot) -> Text:
    version = short_version(snapshot.cml_version) if snapshot.cml_version else None
    if version and not snapshot.cml_version_supported:
        return plain(version, "red")
    return plain(version, "" if version else "dim")


COLUMNS: tuple[Column, ...] = (
    # The name's width is worked out from the names (see fit_columns).
    Column("name", "Name", NAME_MIN_WIDTH, 0, name_cell, lambda s: natural_key(s.name)),
    Column("region", "Region", 10, 3, lambda s: plain(s.region), lambda s: s.region),
    Column(
        "state",
        "State",
        15,
        0,
        lambda s: status_text(s.status),
        lambda s: _STATUS_ORDER.get(s.status, 99),
    ),
    Column(
        "service",
        "CML",
        13,
        1,
        service_cell,
        _service_sort_key,
    ),
    Column(
        "version", "Version", VERSION_WIDTH, 4, _version_cell, lambda s: natural_key(s.cml_version)
    ),
    Column(
        "licence",
        "Licence",
        12,
        5,
        lambda s: license_text(s.license_status),
        lambda s: s.license_status.value,
    ),
    Column(
        "labs",
        "Labs",
        4,
        2,
        _labs_cell,
        lambda s: _live(s, s.active_labs_count),
        "right",
    ),
    Column(
        "cpu",
        "CPU",
        5,
        1,
        lambda s: _percent_cell(s, s.cpu_utilization),
        lambda s: _live(s, s.cpu_utilization),
        "right",
    ),
    Column(
        "mem",
        "Mem",
        5,
        2,
        lambda s: _percent_cell(s, s.memory_utilization),
        lambda s: _live(s, s.memory_utilization),
        "right",
    ),
    Column("idle", "Idle", 7, 2, _idle_cell, lambda s: s.idle_minutes, "right"),
    Column(
        "uptime",
        "Uptime",
        6,
        6,
        lambda s: _right(duration(s.uptime_seconds)),
        lambda s: s.uptime_seconds,
        "right",
    ),
    Column(
        "cost",
        "$/h",
        5,  # up to 99.99 (a metal instance is about 4)
        4,
        lambda s: _right(f"{s.hourly_cost_usd:.2f}"),
        lambda s: s.hourly_cost_usd,
        "right",
    ),
)

COLUMNS_BY_KEY: dict[str, Column] = {column.key: column for column in COLUMNS}
#: The mark column ("●" and a space before the name) always comes first and carries the
#: worker id for sorting. (A space before the "●" too would cost the $/h column at 80.)
MARK_WIDTH = 2


def fit_columns(available_width: int) -> tuple[list[Column], int]:
    """The columns that fit, in display order, and the content width the name column gets.

    The column priority decides what is shown, never a name: the name column counts at its
    minimum width while the most important columns (lowest priority number) are placed (a
    column that does not fit is dropped, and a less important but narrower one may still fit
    after it); then the name takes the width left, up to NAME_MAX_WIDTH. A longer name ends
    in "…" (the detail pane has it whole).
    """
    remaining = available_width - MARK_WIDTH
    chosen: set[str] = set()
    for column in sorted(COLUMNS, key=lambda c: c.priority):
        needed = column.width + GUTTER
        if needed <= remaining or column.priority == 0:
            chosen.add(column.key)
            remaining -= needed
    name_width = NAME_MIN_WIDTH + max(0, min(remaining, NAME_MAX_WIDTH - NAME_MIN_WIDTH))
    return [column for column in COLUMNS if column.key in chosen], name_width


def filter_fields(snapshot: WorkerSnapshot) -> tuple[str, ...]:
    """What ``/`` searches: the name as stored and as shown, region, state, CML version, the
    ids (handy to paste), and ``detached`` / ``problem`` for rows that carry those warnings."""
    return (
        snapshot.name,
        shown(snapshot.name, missing=""),
        snapshot.region,
        snapshot.status.value,
        shown(snapshot.cml_version, missing=""),
        snapshot.id,
        snapshot.aws_instance_id or "",
        "detached" if snapshot.detached else "",
        "problem" if snapshot.problems else "",
    )
