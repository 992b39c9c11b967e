"""The log file: owner-only (0600 in a 0700 folder), since errors may quote hosts and endpoints.

It rotates by size (``cmltui.log`` -> ``cmltui.log.1`` ...), bounded by ``[log]`` in the config.
"""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import os
from io import TextIOWrapper
from pathlib import Path

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
#: Defaults of ``[log]`` (see ``cmltui.config.LogConfig``), for callers without a config.
DEFAULT_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_BACKUP_COUNT = 3


class PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A size-rotated log whose every file, the fresh one after a rotation included, is 0600."""

    def _open(self) -> TextIOWrapper:
        descriptor = os.open(
            self.baseFilename, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600
        )
        with contextlib.suppress(OSError):  # a file of another owner keeps its mode
            os.fchmod(descriptor, 0o600)
        return open(descriptor, "a", encoding=self.encoding, errors=self.errors)


def ensure_private_log_file(log_path: Path) -> None:
    """Create ``log_path`` 0600 in a 0700 folder; an older, looser file or folder is tightened."""
    log_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(log_path.parent, 0o700)
    descriptor = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.close(descriptor)
    os.chmod(log_path, 0o600)


def private_log_handler(
    log_path: Path,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    backup_count: int = DEFAULT_BACKUP_COUNT,
) -> logging.FileHandler:
    """A size-rotated file handler on ``log_path`` (see ``ensure_private_log_file``)."""
    ensure_private_log_file(log_path)
    handler = PrivateRotatingFileHandler(
        log_path, maxBytes=max_bytes, backupCount=backup_count, encoding="utf-8"
    )
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    return handler


def handler_for(log_path: Path) -> logging.FileHandler | None:
    """The handler of the root or ``cmltui`` logger that writes to ``log_path``, if any."""
    target = str(log_path.resolve()) if log_path.exists() else str(log_path)
    for logger in (logging.getLogger(), logging.getLogger("cmltui")):
        for handler in logger.handlers:
            if isinstance(handler, logging.FileHandler) and handler.baseFilename == target:
                return handler
    return None


def already_logging_to(log_path: Path) -> bool:
    """True when the root or the ``cmltui`` logger already writes to ``log_path``."""
    return handler_for(log_path) is not None
