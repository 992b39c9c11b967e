"""An OS file lock beside the data file: one cmltui process at a time writes it.

Held for one transaction (read what is on disk, merge, write), never for a process's lifetime,
so any number of dashboards and headless commands share one data file.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from cmltui.store.errors import StoreBusyError


class DataFileLock:
    """An exclusive, non-blocking ``flock`` on ``<data file>.lock``.

    The lock belongs to the open file description, so it is released when this process ends,
    however it ends (a SIGKILL included): a stale lock can never block the next start.
    """

    def __init__(self, lock_path: Path) -> None:
        self.path = lock_path
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def try_acquire(self) -> bool:
        """Take the lock; False when another process (or another open store) holds it."""
        if self._fd is not None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        except OSError:
            os.close(fd)
            raise
        self._fd = fd
        # Who holds it, for an operator looking at the file; best effort only.
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        return True

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    @contextlib.contextmanager
    def held_for(
        self,
        timeout_seconds: float,
        *,
        on_wait: Callable[[], None] | None = None,
        poll_seconds: float = 0.02,
    ) -> Iterator[None]:
        """Hold the lock for one transaction, waiting up to ``timeout_seconds`` for it.

        ``on_wait`` is called once when the lock is not free at once (to tell the operator).
        Raises ``StoreBusyError`` when another process keeps it longer than that.
        """
        deadline = time.monotonic() + timeout_seconds
        told = False
        while not self.try_acquire():
            if not told and on_wait is not None:
                on_wait()
                told = True
            if time.monotonic() >= deadline:
                raise StoreBusyError(
                    f"another cmltui has held {self.path} for over {timeout_seconds:g} s; "
                    "nothing was written (the next write retries)"
                )
            time.sleep(poll_seconds)
        try:
            yield
        finally:
            self.release()
