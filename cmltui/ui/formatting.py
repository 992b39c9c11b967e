"""Turning snapshot values into short, safe ``rich.text.Text`` for the screen.

Remote strings (names, tags, versions, lab titles, errors) are data: they are always wrapped in
``Text`` (never parsed as markup), and every character that is invisible, moves other text or
drives the terminal is shown escaped (``\\u200b``, ``\\x9b``; see ``cmltui.domain.names``), never
removed: two names that differ must look different, and what is shown can be typed back.
"""

from __future__ import annotations

import re
from datetime import datetime

from rich.text import Text

from cmltui.domain.enums import CMLServiceStatus, CMLWorkerStatus, LicenseStatus
from cmltui.domain.names import visible

#: Line breaks and tabs inside a message (an error, a notice): read as spaces, not as escapes.
_MESSAGE_BREAKS = re.compile(r"[\r\n\t]+")


def shown(value: object | None, *, missing: str = "—") -> str:
    """A remote value as one printable line, unsafe characters escaped (``\\u202e``)."""
    if value is None:
        return missing
    text = visible(str(value))
    return text if text else missing


def message(value: object | None, *, missing: str = "—") -> str:
    """A remote message (error, result, notice) as one line: breaks become spaces, then
    every other unsafe character is escaped as in ``shown``."""
    if value is None:
        return missing
    return shown(_MESSAGE_BREAKS.sub(" ", str(value)).strip(), missing=missing)


#: How an escaped character stands out from the text around it.
ESCAPE_STYLE = "bold yellow"


def plain(value: object | None, style: str = "", *, missing: str = "—") -> Text:
    """A remote value as literal text: ``[bold]`` stays ``[bold]``, and each unsafe character
    is shown as its escape (``\\u200b``), highlighted so it is noticed."""
    raw = "" if value is None else str(value)
    text = shown(value, missing=missing)
    line = Text(style=style, no_wrap=True, overflow="ellipsis")
    if text == raw or not raw:
        line.append(text)
        return line
    # visible() maps character by character, so the pieces add up to ``text``.
    for character in raw:
        piece = visible(character)
        line.append(piece, style=ESCAPE_STYLE if piece != character else None)
    return line


class SortableText(Text):
    """Text that remembers the worker it belongs to, so a table sort can find its snapshot."""

    def __init__(self, text: str, *, worker_id: str, style: str = "") -> None:
        super().__init__(text, style=style, no_wrap=True)
        self.worker_id = worker_id

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, SortableText)
            and other.worker_id == self.worker_id
            and super().__eq__(other)
        )

    __hash__ = None  # type: ignore[assignment]


# Each state has a symbol so it reads without colour (NO_COLOR, monochrome terminals).
_STATUS_LOOK: dict[CMLWorkerStatus, tuple[str, str]] = {
    CMLWorkerStatus.RUNNING: ("▶", "bold green"),
    CMLWorkerStatus.STOPPED: ("■", "yellow"),
    CMLWorkerStatus.PENDING: ("…", "cyan"),
    CMLWorkerStatus.STOPPING: ("…", "cyan"),
    CMLWorkerStatus.SHUTTING_DOWN: ("…", "magenta"),
    CMLWorkerStatus.TERMINATED: ("✖", "red"),
    CMLWorkerStatus.UNKNOWN: ("?", "dim"),
}

_SERVICE_LOOK: dict[CMLServiceStatus, tuple[str, str]] = {
    CMLServiceStatus.AVAILABLE: ("●", "green"),
    CMLServiceStatus.STARTING: ("◐", "cyan"),
    CMLServiceStatus.UNAVAILABLE: ("○", "dim"),
    CMLServiceStatus.ERROR: ("✖", "red"),
}

_LICENSE_LOOK: dict[LicenseStatus, str] = {
    LicenseStatus.REGISTERED: "green",
    LicenseStatus.EVALUATION: "cyan",
    LicenseStatus.UNREGISTERED: "dim",
    LicenseStatus.EXPIRED: "red",
    LicenseStatus.INVALID: "red",
}


def status_text(status: CMLWorkerStatus) -> Text:
    symbol, style = _STATUS_LOOK.get(status, ("?", ""))
    return Text(f"{symbol} {status.value}", style=style, no_wrap=True)


def service_text(status: CMLServiceStatus) -> Text:
    symbol, style = _SERVICE_LOOK.get(status, ("?", ""))
    return Text(f"{symbol} {status.value}", style=style, no_wrap=True)


#: A running worker's CML before its first answer (since cmltui started, or since the worker
#: did): not known yet, so neither "unavailable" nor the state stored from an earlier run.
PENDING_SERVICE = "pending"


def pending_service_text() -> Text:
    return Text(f"◌ {PENDING_SERVICE}", style="cyan", no_wrap=True)


def license_text(status: LicenseStatus) -> Text:
    return Text(status.value, style=_LICENSE_LOOK.get(status, ""), no_wrap=True)


def percent_text(value: float | None, *, warn: float = 70.0, critical: float = 90.0) -> Text:
    """A percentage coloured by threshold; ``!`` marks critical so it reads without colour."""
    if value is None:
        return Text("—", style="dim", justify="right")
    style = "bold red" if value >= critical else "yellow" if value >= warn else ""
    marker = "!" if value >= critical else ""
    return Text(f"{marker}{value:.0f}%", style=style, justify="right")


def duration(seconds: float | None) -> str:
    """Compact human duration: 45s, 12m, 3h05m, 2d04h."""
    if seconds is None:
        return "—"
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, _ = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h{minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours:02d}h"


def age(seconds: float | None) -> str:
    """How old something is, for the header: '12 s', '3 min', '2 h'."""
    if seconds is None:
        return "never"
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h"


def money(usd: float | None, *, per_hour: bool = False) -> str:
    if usd is None:
        return "—"
    return f"${usd:,.2f}" + ("/h" if per_hour else "")


def timestamp(when: datetime | None) -> str:
    """``2026-03-02 09:30:00Z`` (UTC) or with its offset: short enough for a detail column."""
    if when is None:
        return "—"
    offset = when.utcoffset()
    zone = "Z" if offset is not None and not offset else when.strftime("%z")
    return when.strftime("%Y-%m-%d %H:%M:%S") + zone


def seconds_between(later: datetime, earlier: datetime | None) -> float | None:
    if earlier is None:
        return None
    return (later - earlier).total_seconds()
