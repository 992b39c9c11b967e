"""The log file: owner-only (0600 in a 0700 folder), since errors may quote hosts and endpoints."""

from __future__ import annotations

import logging
import os
from pathlib import Path

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def ensure_private_log_file(log_path: Path) -> None:
    """Create ``log_path`` 0600 in a 0700 folder; an older, looser file or folder is tightened."""
    log_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(log_path.parent, 0o700)
    descriptor = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.close(descriptor)
    os.chmod(log_path, 0o600)


def private_log_handler(log_path: Path) -> logging.FileHandler:
    """A file handler on ``log_path`` (see ``ensure_private_log_file``)."""
    ensure_private_log_file(log_path)
    handler = logging.FileHandler(log_path, encoding="utf-8")
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    return handler


def already_logging_to(log_path: Path) -> bool:
    """True when the root or the ``cmltui`` logger already writes to ``log_path``."""
    target = str(log_path.resolve()) if log_path.exists() else str(log_path)
    for logger in (logging.getLogger(), logging.getLogger("cmltui")):
        for handler in logger.handlers:
            if isinstance(handler, logging.FileHandler) and handler.baseFilename == target:
                return True
    return False
