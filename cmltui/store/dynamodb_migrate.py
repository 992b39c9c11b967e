"""Copying a TinyDB data file's workers and events into the shared DynamoDB table.

Runnable any number of times: every item's key is deterministic (a worker's record; an event at
the version it brings its worker to, counted along the worker's trail in the file's order, with its
CloudEvents id kept), and what the table has already is left alone: a record is put only where
none is (``attribute_not_exists``), an event only where its key is free. An event key holding
another event (the table was used before the copy) is counted as a mismatch and not written.
Run it before the team's cmltui processes start writing the table.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from cmltui.domain.events import CloudEvent, event_from_cloudevent
from cmltui.store.dynamodb_reads import note_event_days, worker_event_items
from cmltui.store.dynamodb_schema import (
    day_of,
    event_increment,
    event_item,
    state_item,
    version_of_event_item,
)
from cmltui.store.repository import TinyDbWorkerRepository


@dataclass
class MigrationReport:
    workers_copied: int = 0
    workers_present: int = 0
    events_copied: int = 0
    events_present: int = 0
    events_mismatched: int = 0

    def lines(self) -> list[str]:
        text = [
            f"workers: {self.workers_copied} copied, {self.workers_present} already there",
            f"events: {self.events_copied} copied, {self.events_present} already there",
        ]
        if self.events_mismatched:
            text.append(
                f"events not copied: {self.events_mismatched} (the table holds other events "
                "at their place; it was written before this copy)"
            )
        return text


def _numbered(envelopes: list[CloudEvent]) -> list[tuple[int, CloudEvent, bool]]:
    """(version after the event, envelope, telemetry?) along one worker's trail."""
    version = 0
    numbered: list[tuple[int, CloudEvent, bool]] = []
    for envelope in envelopes:
        try:
            event = event_from_cloudevent(envelope)
            version += event_increment(event)
            telemetry = event.IS_TELEMETRY
        except (ValueError, ValidationError):  # unknown to this cmltui: copied as it is
            version += 1
            telemetry = False
        numbered.append((version, envelope, telemetry))
    return numbered


def _batch_put(client: Any, table: str, items: list[dict[str, Any]]) -> None:
    for start in range(0, len(items), 25):
        request: dict[str, Any] = {
            table: [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]
        }
        delay = 0.05
        while request:
            reply = client.batch_write_item(RequestItems=request)
            request = reply.get("UnprocessedItems") or {}
            if request:
                time.sleep(delay)
                delay = min(delay * 2, 2.0)


def migrate_from_tinydb(source: TinyDbWorkerRepository, client: Any, table: str) -> MigrationReport:
    """Copy ``source``'s workers and events into ``table`` (see the module's note)."""
    report = MigrationReport()
    trails: dict[str, list[CloudEvent]] = {}
    for envelope in source.events():
        trails.setdefault(envelope.subject, []).append(envelope)
    days: set[str] = set()
    noted: set[str] = set()
    for worker_id, envelopes in trails.items():
        present = {
            version_of_event_item(item): item["event_id"]["S"]
            for item in worker_event_items(client, table, worker_id)
        }
        new_items = []
        for version, envelope, telemetry in _numbered(envelopes):
            there = present.get(version)
            if there == envelope.id:
                report.events_present += 1
            elif there is not None:
                report.events_mismatched += 1
            else:
                new_items.append(event_item(worker_id, version, envelope, telemetry=telemetry))
                days.add(day_of(envelope.time))
        if days - noted:  # before the events: a reader by time finds them
            note_event_days(client, table, days - noted)
            noted |= days
        _batch_put(client, table, new_items)
        report.events_copied += len(new_items)
    for worker in source.all_workers():
        try:
            client.put_item(
                TableName=table,
                Item=state_item(worker.state),
                ConditionExpression="attribute_not_exists(pk)",
            )
            report.workers_copied += 1
        except client.exceptions.ConditionalCheckFailedException:
            report.workers_present += 1
    return report
