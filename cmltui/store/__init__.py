"""Durable local storage: TinyDB on an atomic storage, with a lock and an audit trail."""

from cmltui.store.atomic_storage import AtomicJSONStorage
from cmltui.store.errors import (
    StoreBusyError,
    StoreError,
    StoreFolderError,
    StoreReadOnlyError,
    StoreWriteError,
)
from cmltui.store.repository import DATA_FILE_NAME, TinyDbWorkerRepository, open_store
from cmltui.store.retention import TelemetryRetention

__all__ = [
    "DATA_FILE_NAME",
    "AtomicJSONStorage",
    "StoreBusyError",
    "StoreError",
    "StoreFolderError",
    "StoreReadOnlyError",
    "StoreWriteError",
    "TelemetryRetention",
    "TinyDbWorkerRepository",
    "open_store",
]
