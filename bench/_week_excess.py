"""Where the hours billed over the ideal come from: each billed minute outside the ideal is put
down to what it lies between, within its billed run (a worker's span from a start to a stop).

What came before it in the run (nothing: the run began; a class window; a lab running outside
any window; a maintenance window) and what comes after (nothing: the run ends; a window opens;
a lab starts; maintenance begins) name the source:

- ``lead before a window``: started, not needed until a window opens (the boot and margins);
- ``boot before a lab``: started by hand (or for a lab), not needed until a lab starts;
- ``boot before maintenance``: started for maintenance before it began;
- ``after a window's close``: a window closed and nothing ran until the stop;
- ``after a lab past the close``: a class lab ran past the close, then idle until the stop;
- ``after the last lab``: an evening or ad-hoc session's last lab ended, idle until the stop;
- ``between labs``: idle between two labs (or between a window and a lab) without a stop;
- ``after maintenance``: maintenance ended and nothing ran until the stop;
- ``never needed``: a run with no lab and no window in it.

Minutes are the ideal's (whole minutes from the week's start); a minute's share is the seconds
of it billed, so cmltui's intervals (to the second) and the original rule's minutes add up the
same way as ``_week_rules.intervals_outside``.
"""

from __future__ import annotations

from collections.abc import Iterable

from _week_rules import WorkerNeeds

#: The sources, in the order they are printed.
SOURCES = (
    "lead before a window",
    "boot before a lab",
    "boot before maintenance",
    "after a window's close",
    "after a lab past the close",
    "after the last lab",
    "between labs",
    "after maintenance",
    "never needed",
)


def covered_minutes(billed: list[bool]) -> list[float]:
    """The original rule's billed minutes as seconds per minute."""
    return [60.0 if minute else 0.0 for minute in billed]


def _kind(needs: WorkerNeeds, minute: int, after_window: bool) -> str | None:
    if needs.window[minute]:
        return "window"
    if needs.maintenance[minute]:
        return "maintenance"
    if needs.lab[minute]:
        return "class lab" if after_window else "lab"
    return None


def _source(before: str | None, after: str | None) -> str:
    if after is not None:
        if before is None:
            if after == "window":
                return "lead before a window"
            if after == "maintenance":
                return "boot before maintenance"
            return "boot before a lab"
        return "between labs"
    if before is None:
        return "never needed"
    return {
        "window": "after a window's close",
        "class lab": "after a lab past the close",
        "lab": "after the last lab",
        "maintenance": "after maintenance",
    }[before]


def excess_by_source(covered: list[float], needs: WorkerNeeds) -> dict[str, float]:
    """Hours billed outside the ideal, by source, for one worker."""
    hours = dict.fromkeys(SOURCES, 0.0)
    minutes = len(covered)
    minute = 0
    while minute < minutes:
        if covered[minute] <= 0.0:
            minute += 1
            continue
        # One billed run: [minute, end).
        end = minute
        while end < minutes and covered[end] > 0.0:
            end += 1
        before: str | None = None
        after_window = False  # the lab now running began while a window was open
        at = minute
        while at < end:
            kind = _kind(needs, at, after_window)
            if kind is not None:
                after_window = kind in ("window", "class lab")
                before = kind
                at += 1
                continue
            stretch_end = at
            while stretch_end < end and _kind(needs, stretch_end, False) is None:
                stretch_end += 1
            after = _kind(needs, stretch_end, False) if stretch_end < end else None
            source = _source(before, after)
            hours[source] += sum(covered[at:stretch_end]) / 3600.0
            after_window = False
            at = stretch_end
        minute = end
    return hours


def add_up(parts: Iterable[dict[str, float]]) -> dict[str, float]:
    total = dict.fromkeys(SOURCES, 0.0)
    for part in parts:
        for source, hours in part.items():
            total[source] += hours
    return {source: round(hours, 2) for source, hours in total.items()}
