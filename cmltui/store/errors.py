"""Errors the store raises; each message is one an operator can act on."""

from __future__ import annotations


class StoreError(Exception):
    """Base of the store's errors."""


class StoreReadOnlyError(StoreError):
    """A write was asked of a store opened read-only (another cmltui holds the lock)."""


class StoreWriteError(StoreError):
    """The data file could not be written; the changes are kept in memory and retried."""


class StoreFolderError(StoreError):
    """The data folder cannot be used (not a folder, not writable); nothing was opened."""

    def __init__(self, folder: object, cause: str) -> None:
        super().__init__(f"cannot use the data folder {folder}: {cause}")
        self.folder = folder
        self.cause = cause


class StoreBusyError(StoreWriteError):
    """Another process held the data file's lock for too long; the write is retried later."""
