"""Is the data folder usable? One message naming the path and the cause, before anything opens.

A folder that cannot be written (immutable, on a read-only mount, a path under a regular file,
owned by someone else) is found when the store opens, not when the first action's outcome is
saved: a command never acts on AWS and then fails to record what it did.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from cmltui.store.atomic_storage import ensure_private_folder
from cmltui.store.errors import StoreFolderError


def blocking_file(folder: Path) -> Path | None:
    """The nearest existing ancestor of ``folder`` (or itself) that is not a folder."""
    for candidate in (folder, *folder.parents):
        if candidate.exists() or candidate.is_symlink():
            return None if candidate.is_dir() else candidate
    return None


def _cause(err: OSError) -> str:
    return err.strerror or str(err)


def check_data_folder(data_file: Path) -> None:
    """Create the data file's folder (0700) and make sure a file can be written in it.

    Raises ``StoreFolderError`` ("cannot use the data folder <path>: <cause>") otherwise.
    """
    folder = data_file.parent
    try:
        ensure_private_folder(folder)
    except (FileExistsError, NotADirectoryError):
        blocker = blocking_file(folder)
        what = f"{blocker} is a file, not a folder" if blocker else "a part of it is not a folder"
        raise StoreFolderError(folder, what) from None
    except OSError as err:
        raise StoreFolderError(folder, f"it cannot be created ({_cause(err)})") from None
    if not folder.is_dir():
        raise StoreFolderError(folder, "it is not a folder")
    probe = folder / f".{data_file.name}.probe-{os.getpid()}"
    try:
        descriptor = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    except FileExistsError:
        descriptor = None  # a probe left by a killed process of the same pid: writable enough
    except OSError as err:
        raise StoreFolderError(folder, f"no file can be written in it ({_cause(err)})") from None
    if descriptor is not None:
        os.close(descriptor)
    with contextlib.suppress(OSError):
        probe.unlink()
    if data_file.exists() and not os.access(data_file, os.W_OK):
        # Replacing it (rename over it) fails too when it is immutable or read-only.
        raise StoreFolderError(folder, f"the data file {data_file} cannot be written")
