"""The labs of one worker, as the labs screen and the lab commands see them.

A ``LabSession`` per worker polls ``labs_with_details`` (1 + labs + started labs requests) only
while it is open: the fleet's regular CML cycle never reads a lab's details for it, so a closed
labs screen costs nothing. Each poll is diffed against the last one and handed to the listener
as a ``LabsUpdate`` of frozen ``LabSnapshot``s keyed by lab id (changed and removed only).

The actions (start, stop, wipe, delete, "stop, wipe and delete", download, import) are in
``lab_actions``: each mutating CML call is preceded by a saved intent and followed by its
outcome and a lab record in the worker's audit trail, as every other action of the controller.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from cmltui.cml.errors import CmlError
from cmltui.services.lab_actions import LabActions
from cmltui.services.lab_views import (
    LAB_POLL_SECONDS,
    BusyVerdict,
    LabHost,
    LabSnapshot,
    LabsUpdate,
    busy_verdict,
    lab_label,
    lab_snapshot,
    reachable_problem,
    sorted_labs,
)

__all__ = [
    "LAB_POLL_SECONDS",
    "BusyVerdict",
    "LabHost",
    "LabSession",
    "LabSnapshot",
    "LabsService",
    "LabsUpdate",
    "busy_verdict",
    "lab_label",
    "lab_snapshot",
    "sorted_labs",
]

log = logging.getLogger("cmltui.labs")


@dataclass
class LabSession:
    """The labs of one worker while a screen (or a command) looks at them."""

    service: LabsService = field(repr=False)
    worker_id: str
    labs_by_id: dict[str, LabSnapshot] = field(default_factory=dict)
    loaded: bool = False
    error: str | None = None
    error_since: datetime | None = None
    fetched_at: datetime | None = None
    #: Polls made (each is 1 + labs + started labs CML requests).
    polls: int = 0
    _listener: Callable[[LabsUpdate], None] | None = None
    _task: asyncio.Task[None] | None = None
    _wake: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def host(self) -> LabHost:
        return self.service.host

    @property
    def labs(self) -> list[LabSnapshot]:
        return sorted_labs(self.labs_by_id.values())

    @property
    def is_open(self) -> bool:
        return self._task is not None and not self._task.done()

    def open(self, listener: Callable[[LabsUpdate], None]) -> None:
        """Start polling (now, then every ``poll_seconds``); ``listener`` gets every update
        on the event loop's thread."""
        self._listener = listener
        self.service.register(self)
        if not self.is_open:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name=f"labs:{self.worker_id}"
            )

    async def close(self) -> None:
        """Stop polling and forget the labs: no request is made for a closed screen."""
        self._listener = None
        self.service.forget(self)
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def request_refresh(self) -> None:
        self._wake.set()

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self.refresh()
            except asyncio.CancelledError:
                raise
            except Exception as err:  # never let the screen's poll die silently
                log.exception("labs poll of %s failed", self.worker_id)
                self._set_error(f"unexpected error: {type(err).__name__}: {err}")
                self._emit(self._update((), ()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.host.poll_seconds)

    def _set_error(self, message: str | None) -> None:
        if message is None:
            self.error = self.error_since = None
            return
        if self.error is None:
            self.error_since = self.host.clock()
        self.error = message

    async def refresh(self) -> LabsUpdate:
        """Read the labs once, apply the answer and tell the listener; returns the update."""
        worker = self.host.find(self.worker_id)
        problem = reachable_problem(worker, self.worker_id)
        if problem is not None or worker is None:
            removed = tuple(self.labs_by_id)
            self.labs_by_id.clear()
            self._set_error(problem)
            return self._emit(self._update((), removed))
        try:
            answer = await self.host.client(worker).labs_with_details()
        except CmlError as err:
            self._set_error(err.reason)
            return self._emit(self._update((), ()))
        self.polls += 1
        self.loaded = True
        self.fetched_at = self.host.clock()
        self._set_error(None)
        fresh = {details.id: lab_snapshot(details) for details in answer}
        changed = tuple(
            sorted_labs(lab for lab_id, lab in fresh.items() if self.labs_by_id.get(lab_id) != lab)
        )
        removed = tuple(lab_id for lab_id in self.labs_by_id if lab_id not in fresh)
        self.labs_by_id = fresh
        return self._emit(self._update(changed, removed))

    def current(self) -> LabsUpdate:
        """Every lab known now (a full update)."""
        return self._update(tuple(self.labs), (), full=True)

    def _update(
        self, changed: tuple[LabSnapshot, ...], removed: tuple[str, ...], *, full: bool = False
    ) -> LabsUpdate:
        worker = self.host.find(self.worker_id)
        snapshot = self.host.snapshot(worker) if worker is not None else None
        labs = list(self.labs_by_id.values())
        return LabsUpdate(
            worker_id=self.worker_id,
            worker=snapshot,
            busy=busy_verdict(snapshot, labs, self.host.idle),
            changed=changed,
            removed_ids=removed,
            is_full=full,
            loaded=self.loaded,
            error=self.error,
            error_since=self.error_since,
            fetched_at=self.fetched_at,
            total=len(labs),
            started=sum(1 for lab in labs if lab.is_active),
            running_nodes=sum(lab.running_nodes or 0 for lab in labs),
            node_count=sum(lab.node_count or 0 for lab in labs),
        )

    def _emit(self, update: LabsUpdate) -> LabsUpdate:
        listener = self._listener
        if listener is not None:
            try:
                listener(update)
            except Exception:
                log.exception("labs listener failed")
        return update


class LabsService(LabActions):
    """Lab sessions (each polled only while open) and the lab actions."""

    def __init__(self, host: LabHost) -> None:
        super().__init__()
        self.host = host
        self._sessions: dict[str, list[LabSession]] = {}

    def session(self, worker_id: str) -> LabSession:
        """A new session on the worker's labs (polling starts with ``open``)."""
        return LabSession(self, worker_id)

    def register(self, session: LabSession) -> None:
        sessions = self._sessions.setdefault(session.worker_id, [])
        if session not in sessions:
            sessions.append(session)

    def forget(self, session: LabSession) -> None:
        sessions = self._sessions.get(session.worker_id, [])
        if session in sessions:
            sessions.remove(session)
        if not sessions:
            self._sessions.pop(session.worker_id, None)

    def open_sessions(self) -> list[str]:
        """Worker ids whose labs are being polled now."""
        return [wid for wid, sessions in self._sessions.items() if any(s.is_open for s in sessions)]

    def _wake(self, worker_id: str) -> None:
        for session in self._sessions.get(worker_id, []):
            session.request_refresh()

    async def aclose(self) -> None:
        for sessions in list(self._sessions.values()):
            for session in list(sessions):
                await session.close()
