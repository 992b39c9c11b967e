"""Write one setting back into the operator's config file, keeping the rest of its text.

Used for the theme chosen in the command palette (``[ui] theme``). The file is the operator's:
its comments, order and spacing stay as they are; only the one line changes (or is added). The
result is parsed again and must equal the old document with just that value changed, else
nothing is written. The new text replaces the file atomically (a temporary file beside it,
fsync, ``os.replace``), so a crash leaves the old file or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
import tempfile
import tomllib
from pathlib import Path
from typing import Any

#: A new config file holds nothing secret yet, but it may later (as ``cmltui`` warns).
NEW_FILE_MODE = 0o600


class ConfigWriteError(Exception):
    """The setting could not be kept; the message (one line) names the file and why."""


def _header(section: str) -> re.Pattern[str]:
    return re.compile(rf"^\s*\[\s*{re.escape(section)}\s*\]\s*(#.*)?$")


#: Any table or array-of-tables header: the end of the section before it.
_ANY_HEADER = re.compile(r"^\s*\[")


def with_setting(text: str, section: str, key: str, value: str) -> str:
    """``text`` with ``[section] key = "value"`` set, everything else as it was.

    Raises ``ValueError`` when the text is not valid TOML, or the setting is written in a form
    this edit cannot change safely (a dotted key, an inline table): the caller says so.
    """
    try:
        before = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"it is not valid TOML ({err})") from None
    newline = "\r\n" if "\r\n" in text else "\n"
    quoted = json.dumps(value, ensure_ascii=False)  # a TOML basic string
    setting = f"{key} = {quoted}"
    lines = text.splitlines(keepends=True)
    header = _header(section)
    start = next((index for index, line in enumerate(lines) if header.match(line)), None)
    if start is None:
        prefix = text if not text or text.endswith(("\n", "\r")) else text + newline
        gap = newline if prefix.strip() else ""
        edited = f"{prefix}{gap}[{section}]{newline}{setting}{newline}"
    else:
        end = next(
            (i for i in range(start + 1, len(lines)) if _ANY_HEADER.match(lines[i])), len(lines)
        )
        assignment = re.compile(rf"^(\s*{re.escape(key)}\s*=\s*)(\"(?:[^\"\\]|\\.)*\"|'[^']*')")
        found = next(
            (i for i in range(start + 1, end) if re.match(rf"^\s*{re.escape(key)}\s*=", lines[i])),
            None,
        )
        if found is None:
            lines.insert(start + 1, setting + newline)
        else:
            old = lines[found]
            match = assignment.match(old)
            if match is None:
                ending = old[len(old.rstrip("\r\n")) :]
                lines[found] = setting + (ending or newline)
            else:  # keep what follows the value (a comment) as it was
                lines[found] = match.group(1) + quoted + old[match.end() :]
        edited = "".join(lines)
    table = before.get(section, {})
    if not isinstance(table, dict):
        raise ValueError(f"{section} is not a table there; set it under [{section}] by hand")
    expected: dict[str, Any] = {**before, section: {**table, key: value}}
    try:
        after = tomllib.loads(edited)
    except tomllib.TOMLDecodeError:
        after = None
    if after != expected:
        raise ValueError(
            f"{section}.{key} is written there in a form cmltui does not edit; set it under "
            f"[{section}] by hand"
        )
    return edited


def replace_file_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, fsync it, then rename it over."""
    target = path.resolve() if path.is_symlink() else path
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = stat.S_IMODE(target.stat().st_mode)
    except FileNotFoundError:
        mode = NEW_FILE_MODE
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    with contextlib.suppress(OSError):  # the rename itself survives a crash once this is done
        directory = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


def save_setting(path: Path, section: str, key: str, value: str) -> None:
    """Set ``[section] key = "value"`` in the config file at ``path`` (created when missing).

    Raises ``ConfigWriteError`` with one line naming the file and why it was not written.
    """
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        text = ""
    except UnicodeDecodeError:
        raise ConfigWriteError(f"{path}: not written, it is not UTF-8 text") from None
    except OSError as err:
        raise ConfigWriteError(f"{path}: cannot be read ({err.strerror or err})") from None
    try:
        edited = with_setting(text, section, key, value)
    except ValueError as err:
        raise ConfigWriteError(f"{path}: not written, {err}") from None
    try:
        replace_file_atomically(path, edited.encode("utf-8"))
    except OSError as err:
        raise ConfigWriteError(f"{path}: cannot be written ({err.strerror or err})") from None
