"""What the command line prints: safe names, zoned times, tables, and streams that may close.

Every text that came from a remote source (a name, a tag, an error message) goes through
``shown`` (``cmltui.domain.names.visible``): invisible and reordering characters are escaped, so
two different names never print alike and nothing printed can move the terminal's cursor.

``out`` and ``err`` survive a reader that goes away (``cmltui list | head -1``): the first
``BrokenPipeError`` points the stream at /dev/null and the command goes on to its own exit code,
quietly, with nothing in the log.
"""

from __future__ import annotations

import errno
import json
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

from cmltui.domain.names import visible

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

#: The stream's reader went away (EPIPE), or the terminal did (EIO after an SSH drop).
_GONE = (errno.EPIPE, errno.EIO)


class CliError(Exception):
    """A command cannot go on: its message goes to stderr, the process exits ``exit_code``."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def shown(value: Any) -> str:
    """``value`` as text safe to print: unsafe characters escaped visibly."""
    return visible(str(value))


def zoned(when: datetime | None) -> str:
    """``2026-03-02 09:30:00Z``: in UTC and marked so, as the dashboard shows times."""
    if when is None:
        return "-"
    if when.tzinfo is None:  # the store keeps UTC; a naive time is UTC
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") + "Z"


def iso(when: datetime | None) -> str | None:
    """ISO 8601 with the zone (``+00:00``), for JSON."""
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).isoformat()


#: Why stdout could not be written (a full disk...): the command fails with exit code 1.
output_failure: list[str] = []


def prepare_streams() -> None:
    """Text the terminal's encoding cannot show is escaped (``\\u200b``), never an error."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            try:
                reconfigure(errors="backslashreplace")
            except (OSError, ValueError):
                pass


def _silence(stream: TextIO | None) -> None:
    """Point ``stream``'s descriptor at /dev/null so buffered text and later writes vanish."""
    if stream is None:
        return
    try:
        descriptor = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(descriptor, stream.fileno())
        finally:
            os.close(descriptor)
    except (OSError, ValueError, AttributeError):
        pass


def silence_stdout() -> None:
    """The reader of stdout went away outside ``out`` (argparse's help): drop what is left."""
    _silence(sys.stdout)


def _failed(stream: TextIO | None, error: OSError) -> None:
    """A stream could not be written: quietly when its reader left, else remembered."""
    _silence(stream)
    if error.errno not in _GONE and stream is sys.stdout:
        output_failure.append(f"cannot write the output: {error.strerror or error}")


def _write(stream: TextIO | None, text: str) -> None:
    """Write one line; a closed, gone or full stream never raises here."""
    if stream is None:  # started with the descriptor closed (``>&-``)
        return
    try:
        stream.write(text + "\n")
    except OSError as error:
        _failed(stream, error)


def out(text: str = "") -> None:
    if sys.stdout is None and not output_failure:  # started with ``>&-``
        output_failure.append("cannot write the output: stdout is closed")
    _write(sys.stdout, text)


def err(text: str) -> None:
    _write(sys.stderr, text)


def flush_streams() -> None:
    """Flush stdout and stderr now, so a closed pipe is met here and not at interpreter exit."""
    for stream in (sys.stdout, sys.stderr):
        if stream is None:
            continue
        try:
            stream.flush()
        except OSError as error:
            _failed(stream, error)
        except (ValueError, AttributeError):  # closed or replaced stream
            pass


def print_json(payload: Any) -> None:
    """One JSON document; non-ASCII characters escaped (``\\u200b``), so nothing hides."""
    out(json.dumps(payload, default=str, ensure_ascii=True))


def cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.1f}"
    return shown(value)


def _width(text: str) -> int:
    from rich.cells import cell_len

    return cell_len(text)


def print_table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> None:
    texts = [{c: cell(row.get(c)) for c in columns} for row in rows]
    widths = {c: max([len(c)] + [_width(t[c]) for t in texts]) for c in columns}

    def line(values: dict[str, str]) -> str:
        return "  ".join(v + " " * (widths[c] - _width(v)) for c, v in values.items()).rstrip()

    out(line({c: c.upper() for c in columns}))
    for text in texts:
        out(line(text))
