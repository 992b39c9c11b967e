"""A TinyDB storage that keeps the document in memory and commits it atomically.

TinyDB's own JSONStorage rewrites the file in place (seek, write, truncate), so a crash mid-write
leaves a truncated file, and it writes once per table operation. This storage instead:

* holds the whole document in memory; TinyDB reads and updates that dict;
* commits by writing ``<name>.tmp`` in the same folder, fsync, ``os.replace`` over the data
  file, fsync of the folder: a crash at any moment leaves either the old or the new file whole;
* batches: every TinyDB operation inside ``with storage.batch():`` ends in ONE file write;
* on open, moves a damaged file (and a leftover temp file) aside with a notice, never
  emptying it silently.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Iterable, Iterator
from datetime import UTC
from pathlib import Path
from typing import Any

from pydantic_core import from_json
from tinydb.storages import Storage

from cmltui.domain.clock import Clock, utc_now
from cmltui.memory import collector_paused
from cmltui.store.errors import StoreReadOnlyError, StoreWriteError

FILE_MODE = 0o600
FOLDER_MODE = 0o700

Tables = dict[str, dict[str, Any]]
#: A document as UTF-8 bytes, whole or in pieces written one after the other.
Payload = bytes | list[bytes]
#: Pieces are joined into blocks of about this size for the writes (few system calls).
_BLOCK_BYTES = 1 << 20


def _blocks(payload: Payload) -> Iterator[bytes]:
    if isinstance(payload, bytes):
        yield payload
        return
    batch: list[bytes] = []
    size = 0
    for piece in payload:
        batch.append(piece)
        size += len(piece)
        if size >= _BLOCK_BYTES:
            yield b"".join(batch)
            batch, size = [], 0
    if batch:
        yield b"".join(batch)


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _member_text(doc_id: str, doc: Any) -> bytes:
    """One document as '"id":{...}' in UTF-8."""
    return (_dumps(doc_id) + ":" + _dumps(doc)).encode("utf-8")


def _object_pieces(members: Iterable[bytes]) -> list[bytes]:
    """A JSON object of member texts, as pieces to write one after the other."""
    pieces = [b"{"]
    for index, text in enumerate(members):
        if index:
            pieces.append(b",")
        pieces.append(text)
    pieces.append(b"}")
    return pieces


def _serialize_by_document(table: dict[str, Any]) -> list[bytes]:
    """``_dumps(table)`` in UTF-8, one document at a time.

    The same bytes as one ``json.dumps`` of the table, but the C encoder holds the
    interpreter lock for the whole of each call: one call for 1,000 stored workers (the
    startup bench's data file) held it 7.5 ms in the writer thread, the dashboard's UI
    waiting meanwhile; one document takes at most ~0.1 ms, and between documents other
    threads get their turn.
    """
    return _object_pieces(_member_text(doc_id, doc) for doc_id, doc in table.items())


def ensure_private_folder(folder: Path) -> None:
    """Create the data folder with mode 0700 (an existing folder is left as the user set it)."""
    if folder.is_dir():
        return
    folder.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
    os.chmod(folder, FOLDER_MODE)  # mkdir's mode is filtered by the umask


def damage_in(document: Any) -> str | None:
    """Why a parsed document is not a TinyDB database, or None when its shape is right."""
    if not isinstance(document, dict):
        return f"it holds a JSON {type(document).__name__}, not an object of tables"
    for table_name, table in document.items():
        if not isinstance(table, dict):
            return f"table {table_name!r} is a JSON {type(table).__name__}, not an object"
        for doc_id, doc in table.items():
            if not doc_id.isdigit():
                return f"table {table_name!r} has a document id {doc_id!r} that is not a number"
            if not isinstance(doc, dict):
                return f"document {doc_id} of table {table_name!r} is not an object"
    return None


class AtomicJSONStorage(Storage):
    """In-memory TinyDB storage committed by temp file + fsync + rename. See the module doc."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        read_only: bool = False,
        clock: Clock = utc_now,
        notices: list[str] | None = None,
        append_only_tables: frozenset[str] = frozenset(),
    ) -> None:
        self.path = Path(path)
        #: Tables whose documents are never changed once written (an audit trail): their JSON
        #: text is cached per document, so a commit only serialises what is new.
        self._append_only_tables = append_only_tables
        self._fragments: dict[str, dict[str, tuple[Any, bytes]]] = {}
        self.temp_path = self.path.with_name(self.path.name + ".tmp")
        self.read_only = read_only
        #: Why this storage refuses writes when it was not asked to (shown to the operator).
        self.read_only_reason = ""
        self.notices: list[str] = notices if notices is not None else []
        self._clock = clock
        self._data: Tables = {}
        self._batch_depth = 0
        #: Bumped on every in-memory change; the file holds ``_committed_generation``.
        self._generation = 0
        self._committed_generation = 0
        self._commit_lock = threading.Lock()
        self._serialize_lock = threading.Lock()
        #: Number of times the data file was actually replaced (tests count writes per cycle).
        self.write_count = 0
        #: (inode, size, mtime) of the file as this process last read or wrote it: another
        #: process's write changes it (a new inode, at the least, from the rename).
        self._disk_signature: tuple[int, int, int] | None = None
        if not read_only:
            ensure_private_folder(self.path.parent)
        self._data = self._load()

    # ------------------------------------------------------------------ TinyDB interface
    def read(self) -> Tables:
        # TinyDB updates this dict and hands it back to write(); no copy, so no O(n) per call.
        return self._data

    def write(self, data: Tables) -> None:
        if self.read_only:
            raise StoreReadOnlyError(f"{self.path} is open read-only; nothing was changed")
        self._data = data
        self._generation += 1
        if self._batch_depth == 0:
            self.flush()

    def close(self) -> None:
        """Nothing to release: every commit already closed its file."""

    # ------------------------------------------------------------------ batching and commits
    @contextlib.contextmanager
    def batch(self, *, commit: bool = True) -> Iterator[None]:
        """Group TinyDB operations into one write at the end (``commit=False``: the caller
        commits itself, e.g. from a worker thread). No write happens if the block raises."""
        if self.read_only:
            raise StoreReadOnlyError(f"{self.path} is open read-only; nothing was changed")
        self._batch_depth += 1
        try:
            yield
        finally:
            self._batch_depth -= 1
        if commit and self._batch_depth == 0 and self.pending_write:
            self.flush()

    @property
    def pending_write(self) -> bool:
        """True when memory holds changes the file does not (a failed or deferred write)."""
        return self._generation != self._committed_generation

    def snapshot(self) -> tuple[Tables, int]:
        """A consistent view of the document to serialise in another thread.

        TinyDB never changes a table's dict or a document's dict in place: every update builds
        new ones (``Table._update_table``), so copying the top level is enough, and cheap.
        """
        return dict(self._data), self._generation

    def serialize(self, tables: Tables | None = None) -> tuple[Payload, int]:
        """The whole document (or a ``snapshot``) as UTF-8 pieces to write one after the other,
        with the generation it represents.

        Pieces, not one joined text: at 5,000 workers the document is 42 MB, and joining it
        (then encoding the join) held two more copies of it in memory at every write.
        """
        generation = self._generation
        if tables is None:
            tables = self._data
        pieces: list[bytes] = []
        with self._serialize_lock:  # the per-document text cache is shared
            for index, (name, table) in enumerate(tables.items()):
                pieces.append(("{" if index == 0 else ",").encode() + _dumps(name).encode() + b":")
                if name in self._append_only_tables:
                    pieces.extend(self._serialize_append_only(name, table))
                else:
                    pieces.extend(_serialize_by_document(table))
            pieces.append(b"}" if pieces else b"{}")
        return pieces, generation

    def _serialize_append_only(self, name: str, table: dict[str, Any]) -> list[bytes]:
        # A cached text is reused only for the very same document object, so a replaced
        # document is always serialised afresh. Each text is '"id":{...}' in UTF-8.
        cached = self._fragments.get(name, {})
        fresh: dict[str, tuple[Any, bytes]] = {}
        for doc_id, doc in table.items():
            hit = cached.get(doc_id)
            if hit is None or hit[0] is not doc:
                hit = (doc, _member_text(doc_id, doc))
            fresh[doc_id] = hit
        self._fragments[name] = fresh
        return _object_pieces(text for _, text in fresh.values())

    def flush(self) -> bool:
        """Write the document now if memory is ahead of the file. True when a write happened."""
        if not self.pending_write:
            return False
        payload, generation = self.serialize()
        return self.commit(payload, generation)

    def commit(self, payload: Payload, generation: int) -> bool:
        """Replace the data file with ``payload`` (thread-safe; runs in a worker thread).

        A payload older than what the file already holds is skipped, so commits finishing
        out of order never roll the file back. Raises ``StoreWriteError`` on failure.
        """
        if self.read_only:
            raise StoreReadOnlyError(f"{self.path} is open read-only; nothing was changed")
        with self._commit_lock:
            if generation <= self._committed_generation:
                return False
            self._replace_file(payload)
            self._committed_generation = generation
            self.write_count += 1
            return True

    def _replace_file(self, payload: Payload) -> None:
        try:
            fd = os.open(
                self.temp_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, FILE_MODE
            )
            try:
                os.fchmod(fd, FILE_MODE)
                for block in _blocks(payload):
                    view = memoryview(block)
                    while view:
                        view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(self.temp_path, self.path)
            self._disk_signature = self._signature()
        except OSError as err:
            with contextlib.suppress(OSError):
                self.temp_path.unlink()
            reason = err.strerror or str(err)
            raise StoreWriteError(
                f"cannot write {self.path}: {reason}; the changes are kept in memory and the "
                "next write retries them"
            ) from err
        self._fsync_folder()

    def _fsync_folder(self) -> None:
        # Makes the rename itself durable; some filesystems refuse fsync on a folder.
        with contextlib.suppress(OSError):
            fd = os.open(self.path.parent, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    # ------------------------------------------------------------------ many processes
    def _signature(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def disk_changed(self) -> bool:
        """True when another process wrote the file since this one last read or wrote it."""
        return self._signature() != self._disk_signature

    def read_disk(self) -> Tables:
        """The document on disk now (the caller holds the file lock when it will write).

        A file that cannot be read at all stops the write (memory keeps everything); a file
        that is no cmltui document is set aside with a notice, as at start-up.
        """
        try:
            if self.path.exists() and not self.path.is_file():
                raise IsADirectoryError(21, "it is not a regular file")
            self.path.stat()
        except FileNotFoundError:
            return self._load()  # gone: this process's document is written afresh
        except OSError as err:
            raise StoreWriteError(
                f"cannot write {self.path}: {err.strerror or err}; the changes are kept in "
                "memory and the next write retries them"
            ) from err
        return self._load()

    def mark_committed(self) -> None:
        """Memory equals the file (it was just read, nothing is pending)."""
        self._committed_generation = self._generation

    def adopt(self, tables: Tables) -> None:
        """Make ``tables`` (a merge of the disk's document and this process's changes) the
        document in memory; the next commit writes it."""
        self._data = tables
        self._generation += 1

    # ------------------------------------------------------------------ loading and recovery
    def reload(self) -> None:
        """Read the file again (read-only views only: a writer's memory is ahead of its file)."""
        if not self.read_only:
            raise RuntimeError("only a read-only storage reloads")
        self._data = self._load()
        self._fragments = {}

    def _load(self) -> Tables:
        self._set_aside_leftover_temp()
        self._disk_signature = self._signature()
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as err:
            return self._damaged(f"it cannot be read ({err.strerror or err})")
        if not raw:
            return self._damaged("it is empty (0 bytes)")
        try:
            # Millions of new objects and no cycles: no collector walking them meanwhile.
            # pydantic-core's parser reads the bytes (no decoded copy) and makes one object
            # per distinct short string (worker ids, event types, times repeat across the
            # trail): at 5,000 workers 79 MB of objects instead of json.loads' 134 MB.
            with collector_paused():
                document = from_json(raw, cache_strings="all")
        except ValueError as err:
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                return self._damaged("it is not UTF-8 text")
            return self._damaged(f"it is not valid JSON ({err})")
        reason = damage_in(document)
        if reason is not None:
            return self._damaged(reason)
        return document

    def _set_aside_leftover_temp(self) -> None:
        """A temp file left by a crash mid-write was never committed: keep it, out of the way."""
        if self.read_only or not self.temp_path.exists():
            # Read-only: the temp file may belong to the running writer; leave it alone.
            return
        aside = self._aside_path(self.temp_path, "leftover")
        try:
            os.replace(self.temp_path, aside)
        except OSError as err:
            self.notices.append(f"cannot move the unfinished write {self.temp_path} aside: {err}")
            return
        outcome = (
            f"{self.path} holds the last complete state"
            if self.path.exists()
            else "no complete state had been written yet"
        )
        self.notices.append(
            f"an unfinished write from an earlier run ({self.temp_path}) was moved to {aside}; "
            + outcome
        )

    def _damaged(self, reason: str) -> Tables:
        if self.read_only:
            notice = (
                f"the data file {self.path} is damaged ({reason}); it is left in place for the "
                "cmltui holding the lock, and this read-only view shows nothing from it"
            )
            if notice not in self.notices:  # a view that reloads says it once
                self.notices.append(notice)
            return {}
        aside = self._aside_path(self.path, "corrupt")
        try:
            os.replace(self.path, aside)
        except OSError as err:
            # Never start empty over a file we could not preserve: refuse writes instead.
            self.read_only = True
            self.read_only_reason = (
                f"the data file {self.path} is damaged and could not be moved aside"
            )
            self.notices.append(
                f"the data file {self.path} is damaged ({reason}) and could not be moved aside "
                f"({err.strerror or err}); opened read-only so that nothing overwrites it"
            )
            return {}
        self.notices.append(
            f"the data file {self.path} was damaged ({reason}); it was moved to {aside} and "
            "cmltui started with an empty store"
        )
        return {}

    def _aside_path(self, path: Path, label: str) -> Path:
        stamp = self._clock().astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
        candidate = path.with_name(f"{path.name}.{label}-{stamp}")
        counter = 1
        while candidate.exists():
            candidate = path.with_name(f"{path.name}.{label}-{stamp}-{counter}")
            counter += 1
        return candidate
