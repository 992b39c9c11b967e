"""Errors of the DynamoDB store; a conflict is a ``StoreWriteError`` (shown, then retried)."""

from __future__ import annotations

from collections.abc import Iterable

from cmltui.store.errors import StoreError, StoreWriteError


class StoreConflictError(StoreWriteError):
    """Another process saved these workers since this one read them: nothing of theirs was
    overwritten, and this process's changes are kept (reloaded and re-applied, or retried)."""

    def __init__(self, worker_ids: Iterable[str], detail: str = "") -> None:
        self.worker_ids = tuple(sorted(set(worker_ids)))
        shown = ", ".join(self.worker_ids[:5]) + (" ..." if len(self.worker_ids) > 5 else "")
        super().__init__(
            f"another cmltui saved worker {shown} meanwhile (version conflict); nothing was "
            f"overwritten{': ' + detail if detail else ''}"
        )


class StoreTableError(StoreError):
    """The DynamoDB table cannot be used (missing, no access, bad endpoint): one line."""
