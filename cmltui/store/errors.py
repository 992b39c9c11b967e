"""Errors the store raises; each message is one an operator can act on."""

from __future__ import annotations


class StoreError(Exception):
    """Base of the store's errors."""


class StoreReadOnlyError(StoreError):
    """A write was asked of a store opened read-only (another cmltui holds the lock)."""


class StoreWriteError(StoreError):
    """The data file could not be written; the changes are kept in memory and retried."""
