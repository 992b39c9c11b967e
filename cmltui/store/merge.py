"""Many cmltui processes on one data file: merging what this one holds into what is on disk.

Each process keeps the whole document in memory and writes it atomically, holding the file lock
only for that write (a transaction: lock, read, merge, write, release). When the file changed
since this process last read or wrote it, another process wrote in between; its changes are
kept and this process's *pending* changes (everything staged since its last write) are laid on
top of them:

* events are append-only: ours are renumbered after the disk's last sequence number;
* a worker another process forgot (its record deleted) stays forgotten, whatever we changed;
* a worker both processes changed is rebuilt from the disk's state plus our new events (the
  aggregate's state changes only by events, so this is the same as having applied them there);
  a worker only we changed takes our state; one only they changed takes theirs;
* telemetry retention: the events we dropped are dropped there too, and our checkpoint (see
  ``compaction``) replaces the event it stands at, unless the disk dropped that one already;
* meta values: ours (the keys we set) over theirs; the last sequence number is recomputed.

Pure functions over JSON-ready dictionaries; the repository does the locking and the I/O.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from cmltui.domain.events import UnknownEventTypeError, event_from_cloudevent
from cmltui.domain.rebase import lay_over
from cmltui.domain.worker import CMLWorkerState

log = logging.getLogger(__name__)

Tables = dict[str, dict[str, Any]]

WORKERS_TABLE = "workers"
EVENTS_TABLE = "events"
META_TABLE = "meta"
LAST_SEQ_KEY = "last_event_seq"


@dataclass
class PendingChanges:
    """What this process staged since its last write reached the disk."""

    #: local sequence numbers of events not yet on disk, in order
    event_seqs: list[int] = field(default_factory=list)
    #: worker id -> the version the disk had when we first changed it since our last write
    #: (None: a worker the disk did not have)
    base_versions: dict[str, int | None] = field(default_factory=dict)
    deleted_ids: set[str] = field(default_factory=set)
    meta_keys: set[str] = field(default_factory=set)
    #: sequence numbers retention dropped that were already on disk
    dropped_seqs: set[int] = field(default_factory=set)
    #: sequence numbers on disk whose event this process replaced by a telemetry checkpoint
    replaced_seqs: set[int] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(
            self.event_seqs
            or self.base_versions
            or self.deleted_ids
            or self.meta_keys
            or self.dropped_seqs
            or self.replaced_seqs
        )

    def clear(self) -> None:
        self.event_seqs.clear()
        self.base_versions.clear()
        self.deleted_ids.clear()
        self.meta_keys.clear()
        self.dropped_seqs.clear()
        self.replaced_seqs.clear()


@dataclass
class MergeResult:
    tables: Tables
    #: Workers whose state in the merged document differs from what this process held.
    refreshed_ids: set[str]
    #: Workers the disk no longer has (forgotten by another process).
    removed_ids: set[str]


def _last_seq(tables: Tables) -> int:
    events = tables.get(EVENTS_TABLE, {})
    last = max((int(k) for k in events), default=0)
    for doc in tables.get(META_TABLE, {}).values():
        if doc.get("key") == LAST_SEQ_KEY and isinstance(doc.get("value"), int):
            last = max(last, doc["value"])
    return last


def _by_worker_id(table: dict[str, Any]) -> dict[str, str]:
    return {
        doc["id"]: doc_id
        for doc_id, doc in table.items()
        if isinstance(doc, dict) and isinstance(doc.get("id"), str)
    }


def _subjects(events: dict[str, Any]) -> set[str]:
    """The worker ids the events are about."""
    subjects: set[str] = set()
    for doc in events.values():
        envelope = doc.get("envelope") if isinstance(doc, dict) else None
        subject = envelope.get("subject") if isinstance(envelope, dict) else None
        if isinstance(subject, str):
            subjects.add(subject)
    return subjects


def _version(doc: Any) -> int | None:
    value = doc.get("version") if isinstance(doc, dict) else None
    return value if isinstance(value, int) else None


def _replayed(
    disk_doc: dict[str, Any], envelopes: list[tuple[int, dict[str, Any]]]
) -> tuple[dict[str, Any], set[int]] | None:
    """The disk's worker state with our new events applied, and the local sequence numbers of
    the events that add nothing there (``domain.rebase``: another process had recorded the
    same thing, so it is never recorded twice). None: cannot be done.
    """
    try:
        state = CMLWorkerState.model_validate(disk_doc)
        events = [event_from_cloudevent(envelope) for _, envelope in envelopes]
        state, kept = lay_over(state, events)
    except (ValidationError, UnknownEventTypeError, TypeError, ValueError) as err:
        log.warning("cannot lay new events on worker %s: %s", disk_doc.get("id"), err)
        return None
    kept_indexes = set(kept)
    redundant = {seq for index, (seq, _) in enumerate(envelopes) if index not in kept_indexes}
    return state.model_dump(mode="json"), redundant


def merge(disk: Tables, ours: Tables, pending: PendingChanges) -> MergeResult:
    """Our pending changes laid over the disk's document (see the module doc)."""
    disk_workers = dict(disk.get(WORKERS_TABLE, {}))
    our_workers = ours.get(WORKERS_TABLE, {})
    our_events = ours.get(EVENTS_TABLE, {})
    events = dict(disk.get(EVENTS_TABLE, {}))
    for seq in pending.dropped_seqs:
        events.pop(str(seq), None)
    for seq in pending.replaced_seqs:
        # Our checkpoint replaces the event there; when the disk no longer has it, another
        # process already compacted it into a later checkpoint, which stands for ours too.
        ours_there = our_events.get(str(seq))
        if str(seq) in events and ours_there is not None:
            events[str(seq)] = ours_there

    # Our new events, grouped per worker for replay.
    new_envelopes: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for local_seq in pending.event_seqs:
        doc = our_events.get(str(local_seq))
        envelope = (doc or {}).get("envelope") or {}
        subject = envelope.get("subject")
        if isinstance(subject, str):
            new_envelopes.setdefault(subject, []).append((local_seq, envelope))

    disk_index = _by_worker_id(disk_workers)
    our_index = _by_worker_id(our_workers)
    refreshed: set[str] = set()
    left_out: set[int] = set()
    next_doc_id = max((int(k) for k in disk_workers), default=0) + 1
    with_events_on_disk: set[str] | None = None  # computed when first needed
    for worker_id, base in pending.base_versions.items():
        if worker_id in pending.deleted_ids:
            continue
        our_doc_id = our_index.get(worker_id)
        our_doc = our_workers.get(our_doc_id) if our_doc_id else None
        if our_doc is None:
            continue
        disk_doc_id = disk_index.get(worker_id)
        disk_doc = disk_workers.get(disk_doc_id) if disk_doc_id else None
        if disk_doc_id is None or disk_doc is None:
            if with_events_on_disk is None:
                with_events_on_disk = _subjects(events)
            if base is not None and worker_id in with_events_on_disk:
                # We had it from the disk and another process forgot it since (its events
                # stay, its record went): our copy is stale and never brings it back (its new
                # events still reach the trail). No events at all: the file was lost, ours
                # is the record.
                continue
            disk_workers[str(next_doc_id)] = our_doc
            disk_index[worker_id] = str(next_doc_id)
            next_doc_id += 1
            continue
        if base is not None and _version(disk_doc) == base:
            disk_workers[disk_doc_id] = our_doc  # nobody else changed it
            continue
        replayed = _replayed(disk_doc, new_envelopes.get(worker_id, []))
        if replayed is None:
            disk_workers[disk_doc_id] = our_doc
        else:
            disk_workers[disk_doc_id], redundant = replayed
            left_out |= redundant
        refreshed.add(worker_id)

    # Our events that add something, renumbered after the disk's last one.
    next_seq = _last_seq(disk)
    for local_seq in pending.event_seqs:
        doc = our_events.get(str(local_seq))
        if doc is None or local_seq in left_out:
            continue  # dropped by retention before it was written, or already recorded
        next_seq += 1
        events[str(next_seq)] = {**doc, "seq": next_seq}
    for worker_id in pending.deleted_ids:
        doc_id = disk_index.pop(worker_id, None)
        if doc_id is not None:
            disk_workers.pop(doc_id, None)

    # Workers another process added or changed, and those it forgot.
    for worker_id, doc_id in disk_index.items():
        if worker_id in pending.base_versions:
            continue
        our_doc_id = our_index.get(worker_id)
        if our_doc_id is None or _version(our_workers[our_doc_id]) != _version(
            disk_workers[doc_id]
        ):
            refreshed.add(worker_id)
    removed = {
        worker_id
        for worker_id in our_index
        if worker_id not in disk_index and worker_id not in pending.deleted_ids
    }

    meta = dict(disk.get(META_TABLE, {}))
    meta_index = {doc.get("key"): doc_id for doc_id, doc in meta.items() if isinstance(doc, dict)}
    next_meta_id = max((int(k) for k in meta), default=0) + 1
    our_meta = {doc.get("key"): doc for doc in ours.get(META_TABLE, {}).values()}
    for key in [*pending.meta_keys, LAST_SEQ_KEY]:
        value = next_seq if key == LAST_SEQ_KEY else (our_meta.get(key) or {}).get("value")
        doc_id = meta_index.get(key)
        if doc_id is None:
            doc_id = str(next_meta_id)
            next_meta_id += 1
            meta_index[key] = doc_id
        meta[doc_id] = {"key": key, "value": value}

    tables: Tables = dict(disk)
    tables[WORKERS_TABLE] = disk_workers
    tables[EVENTS_TABLE] = events
    tables[META_TABLE] = meta
    return MergeResult(tables, refreshed, removed)
