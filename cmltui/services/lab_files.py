"""Files of the lab actions: where a download goes (never over a file without asking), and the
topology file an import uploads (read, decoded and checked before any request).

Everything here is blocking file I/O: the labs service runs it in a worker thread.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cmltui.cml.lab_wire import MAX_IMPORT_BYTES, MAX_LAB_TITLE, topology_problem
from cmltui.domain.names import unsafe_characters

#: Characters kept from a lab title in its default file name; others become "_".
_FILE_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9._ -]+")
_MAX_STEM = 80


class LabFileError(Exception):
    """A file an operator named cannot be used: ``reason`` says why, naming the file."""

    def __init__(self, reason: str, *, exists: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        #: The only problem is that the file is there (asking to overwrite it may help).
        self.exists = exists


@dataclass(frozen=True, slots=True)
class TopologyFile:
    """A topology file read and checked, ready to upload."""

    path: Path
    text: str
    size: int
    #: The ``lab: title:`` written in the file, when a simple read finds one.
    title: str | None = None


def default_file_name(title: str | None, lab_id: str) -> str:
    """``<title>.yaml`` with characters a file name should not hold replaced by ``_``."""
    stem = _FILE_NAME_UNSAFE.sub("_", title or "").strip(" ._")[:_MAX_STEM]
    return f"{stem or 'lab-' + lab_id[:8]}.yaml"


def resolve_path(text: str, base: Path | None = None) -> Path:
    """An operator's path: ``~`` expanded, relative to ``base`` (the current folder)."""
    cleaned = text.strip()
    if not cleaned:
        raise LabFileError("no file named")
    if "\x00" in cleaned or unsafe_characters(cleaned):
        raise LabFileError("the file name holds characters that cannot be seen")
    path = Path(cleaned).expanduser()
    if not path.is_absolute():
        path = (base or Path.cwd()) / path
    return path


def check_download_path(path: Path, *, overwrite: bool) -> Path:
    """Why ``path`` cannot take a download (``LabFileError``), or ``path``. A file already
    there is refused with ``exists`` set unless ``overwrite``; a folder never is a target."""
    if path.is_dir():
        raise LabFileError(f"{path} is a folder; name a file")
    if not path.parent.is_dir():
        raise LabFileError(f"{path.parent} is not a folder")
    if not os.access(path.parent, os.W_OK):
        raise LabFileError(f"{path.parent} cannot be written")
    if path.exists() or path.is_symlink():
        if not overwrite:
            raise LabFileError(f"{path} exists", exists=True)
        if not path.is_file():
            raise LabFileError(f"{path} exists and is not a plain file")
    return path


def write_topology(path: Path, text: str, *, overwrite: bool) -> int:
    """Write a downloaded topology (owner-only: it may hold device configurations).

    Without ``overwrite`` the file is created exclusively, so a file that appeared since the
    check is never replaced; with it, a temporary file is renamed over the old one, so a
    failed write leaves the old file whole. Returns the bytes written.
    """
    data = text.encode("utf-8")
    check_download_path(path, overwrite=overwrite)
    try:
        if not overwrite:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            return len(data)
        fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
    except FileExistsError:
        raise LabFileError(f"{path} exists", exists=True) from None
    except OSError as err:
        raise LabFileError(f"cannot write {path}: {err.strerror or err}") from None
    return len(data)


_TITLE_LINE = re.compile(r"^lab:\s*$|^\s+title:\s*(.+?)\s*$", re.MULTILINE)


def title_in(text: str) -> str | None:
    """The title under the top-level ``lab:`` key, read simply (quotes removed), or None."""
    in_lab = False
    for match in _TITLE_LINE.finditer(text):
        if match.group(1) is None:
            in_lab = True
        elif in_lab:
            return match.group(1).strip("'\"") or None
    return None


def read_topology(path: Path) -> TopologyFile:
    """The topology file at ``path``, checked as CML (and nginx before it) would: a plain
    file, at most 2 MB, UTF-8 text, a CML topology. ``LabFileError`` says what is wrong."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise LabFileError(f"{path} does not exist") from None
    except OSError as err:
        raise LabFileError(f"cannot read {path}: {err.strerror or err}") from None
    if path.is_dir():
        raise LabFileError(f"{path} is a folder; name a topology file")
    if info.st_size > MAX_IMPORT_BYTES:
        size = info.st_size / (1024 * 1024)
        raise LabFileError(
            f"{path} is {size:.1f} MB; CML accepts at most {MAX_IMPORT_BYTES // 1048576} MB"
        )
    try:
        data = path.read_bytes()
    except OSError as err:
        raise LabFileError(f"cannot read {path}: {err.strerror or err}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise LabFileError(f"{path} is not UTF-8 text") from None
    problem = topology_problem(text)
    if problem is not None:
        raise LabFileError(f"{path}: {problem}")
    return TopologyFile(path=path, text=text, size=len(data), title=title_in(text))


def title_problem(title: str) -> str | None:
    """Why CML would not take ``title`` for an imported lab, or None."""
    if not 1 <= len(title) <= MAX_LAB_TITLE:
        return f"a lab title holds 1 to {MAX_LAB_TITLE} characters"
    if unsafe_characters(title):
        return "the title holds characters that cannot be seen or that reorder text"
    return None
