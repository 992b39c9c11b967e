"""The worker table's columns: fixed widths, a drop priority, a cell renderer and a sort key."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rich.text import Text

from cmltui.domain.enums import CMLServiceStatus, CMLWorkerStatus
from cmltui.services.snapshot import WorkerSnapshot
from cmltui.ui.formatting import (
    duration,
    license_text,
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


#: The name column is as wide as the longest name, within these bounds (longer names end in
#: "…"; the detail pane has them whole), and takes spare width up to the maximum.
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


def row_warning(snapshot: WorkerSnapshot) -> str:
    """What marks the row before the name: ``⚠ detached``, ``⚠`` for problems, or nothing."""
    if snapshot.detached:
        return "⚠ detached "
    if snapshot.problems:
        return "⚠ "
    return ""


def name_width_needed(snapshot: WorkerSnapshot) -> int:
    """Characters the name cell needs: its warning and its name as shown (escapes and all)."""
    return len(row_warning(snapshot)) + len(shown(snapshot.name, missing=""))


def _name_cell(snapshot: WorkerSnapshot) -> Text:
    # The warning comes first: a long name is cut at its end, never the warning.
    warning = row_warning(snapshot)
    if not warning:
        return plain(snapshot.name)
    return Text.assemble(Text(warning, style="bold red"), plain(snapshot.name))


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


def _version_cell(snapshot: WorkerSnapshot) -> Text:
    if snapshot.cml_version and not snapshot.cml_version_supported:
        return plain(snapshot.cml_version, "red")
    return plain(snapshot.cml_version, "" if snapshot.cml_version else "dim")


COLUMNS: tuple[Column, ...] = (
    # The name's width is worked out from the names (see fit_columns).
    Column("name", "Name", NAME_MIN_WIDTH, 0, _name_cell, lambda s: natural_key(s.name)),
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
        lambda s: service_text(shown_service(s)),
        lambda s: shown_service(s).value,
    ),
    Column("version", "Version", 7, 4, _version_cell, lambda s: natural_key(s.cml_version)),
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
        6,
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


def fit_columns(available_width: int, *, longest_name: int = 0) -> tuple[list[Column], int]:
    """The columns that fit, in display order, and the content width the name column gets.

    The name column needs the longest name (``longest_name`` characters, bounded). Then the
    most important columns (lowest priority number) are placed first; a column that does not
    fit is dropped, and a less important but narrower one may still fit after it.
    """
    name_need = min(NAME_MAX_WIDTH, max(NAME_MIN_WIDTH, longest_name))
    remaining = available_width - MARK_WIDTH
    chosen: set[str] = set()
    for column in sorted(COLUMNS, key=lambda c: c.priority):
        needed = (name_need if column.key == "name" else column.width) + GUTTER
        if needed <= remaining or column.priority == 0:
            chosen.add(column.key)
            remaining -= needed
    name_width = name_need + max(0, min(remaining, NAME_MAX_WIDTH - name_need))
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
