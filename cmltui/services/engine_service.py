"""The UI's view of a controller that runs on the engine's own thread (``EngineThread``).

``EngineService`` implements ``FleetService`` for a UI on another event loop:

- every async method (actions, start, stop, discovery, refresh_once) runs on the engine loop;
  the UI awaits the answer without blocking its loop;
- change-set listeners are called back on the loop that subscribed (``call_soon_threadsafe``),
  in publication order; ``current()`` answers from the change sets already delivered there (a
  mirror folded as they arrive), so it never waits for the engine and never disagrees with
  what the listeners were told;
- short synchronous queries (``events_for``, ``name_problem``, ``discovery_errors``, ``find``,
  ``in_flight_report``) run on the engine loop between two of its steps, the caller blocked
  only that long (bounded: ``EngineBusy``);
- the labs service and its sessions the same way (``EngineLabs``, ``EngineLabSession``): lab
  updates reach the screen's listener on the screen's loop.

What crosses the threads is immutable (frozen snapshots, change sets, action results) or handed
over for good (the operator's captured ids, copied). When the engine loop dies, the UI is told:
pending calls raise ``EngineStopped`` and the status line gets an ``engine`` error.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar, cast

from cmltui.domain.clock import Clock, utc_now
from cmltui.domain.worker_policy import PolicyChange
from cmltui.services.engine_thread import EngineStopped, EngineThread
from cmltui.services.ports import ChangeSetListener
from cmltui.services.snapshot import (
    ActionResult,
    ChangeSet,
    RefreshSummary,
    SourceHealth,
    WorkerSnapshot,
)

if TYPE_CHECKING:
    from cmltui.aws.dto import CMLWorkerInstanceDto
    from cmltui.domain.events import CloudEvent
    from cmltui.services.controller import FleetController
    from cmltui.services.discovery import DiscoveredInstance
    from cmltui.services.lab_files import TopologyFile
    from cmltui.services.labs import LabSession, LabSnapshot, LabsService, LabsUpdate

log = logging.getLogger("cmltui.engine")

T = TypeVar("T")

#: The status line's source name for the engine itself.
ENGINE_SOURCE = "engine"


class EngineService:
    """``FleetService`` over a ``FleetController`` that lives on ``engine``'s loop."""

    def __init__(
        self, engine: EngineThread, controller: FleetController, *, clock: Clock = utc_now
    ) -> None:
        self.engine = engine
        self._controller = controller
        self._clock = clock
        self.read_only: bool = controller.read_only
        self._ui_loop: asyncio.AbstractEventLoop | None = None
        self._listeners: list[ChangeSetListener] = []
        #: The fleet as the delivered change sets say (UI loop only): ``current()``'s answer.
        self._rows: dict[str, WorkerSnapshot] = {}
        self._last: ChangeSet | None = None
        self._labs: EngineLabs | None = None
        engine.add_end_callback(self._engine_ended)

    # -- change sets --------------------------------------------------------------------------

    def subscribe(self, listener: ChangeSetListener) -> None:
        """``listener`` gets every change set on the calling thread's running loop."""
        loop = asyncio.get_running_loop()
        if self._ui_loop is None:
            self._ui_loop = loop
            # One step on the engine: subscribe and take the fleet as it stands, so no change
            # set falls between the two.
            self._fold(self.engine.call(self._attach))
        elif loop is not self._ui_loop:
            raise RuntimeError("every subscriber of an EngineService must share one loop")
        self._listeners.append(listener)

    def _attach(self) -> ChangeSet:  # engine thread
        self._controller.subscribe(self._relay)
        return self._controller.current()

    def _relay(self, change_set: ChangeSet) -> None:  # engine thread
        loop = self._ui_loop
        if loop is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(self._deliver, change_set)
        except RuntimeError:  # the UI's loop closed meanwhile: nobody to tell
            pass

    def _deliver(self, change_set: ChangeSet) -> None:  # UI loop
        self._fold(change_set)
        for listener in list(self._listeners):
            try:
                listener(change_set)
            except Exception:
                log.exception("change-set listener failed")

    def _fold(self, change_set: ChangeSet) -> None:
        if change_set.is_full:
            self._rows = {snapshot.id: snapshot for snapshot in change_set.changed}
        else:
            for worker_id in change_set.removed_ids:
                self._rows.pop(worker_id, None)
            for snapshot in change_set.changed:
                self._rows[snapshot.id] = snapshot
        self._last = change_set

    def current(self) -> ChangeSet:
        """The fleet as the delivered change sets say (the engine's, before any subscriber)."""
        if self._last is None:
            return self.engine.call(self._controller.current)
        return replace(self._last, changed=tuple(self._rows.values()), removed_ids=(), is_full=True)

    def _engine_ended(self, failure: BaseException | None) -> None:  # engine thread
        if failure is None:
            return
        loop = self._ui_loop
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(self._show_engine_failure, failure)
            except RuntimeError:
                pass

    def _show_engine_failure(self, failure: BaseException) -> None:  # UI loop
        error = SourceHealth(
            ENGINE_SOURCE,
            f"stopped by {type(failure).__name__}: {failure}; restart cmltui "
            "(the data file has what was saved)",
            self._clock(),
        )
        base = self._last or ChangeSet()
        errors = tuple(h for h in base.errors if h.source != ENGINE_SOURCE)
        shown = replace(base, changed=(), removed_ids=(), is_full=False, errors=(*errors, error))
        self._deliver(shown)

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self, *, hold_loops: bool = False) -> None:
        await self.engine.run(self._controller.start(hold_loops=hold_loops))

    def release_loops(self) -> None:
        if self.engine.is_running:
            self.engine.call_soon(self._controller.release_loops)

    async def stop(self) -> None:
        if self.engine.is_running:
            await self.engine.run(self._controller.stop())

    @property
    def is_running(self) -> bool:
        """True while the controller's loops run on a live engine."""
        return self.engine.is_running and self.engine.call(lambda: self._controller.is_running)

    def request_refresh(self) -> None:
        self.engine.call_soon(self._controller.request_refresh)

    async def refresh_once(self) -> RefreshSummary:
        return await self.engine.run(self._controller.refresh_once())

    # -- actions (each one request, its ids captured when the key was pressed) ------------------

    async def start_workers(self, worker_ids: Sequence[str]) -> ActionResult:
        return await self.engine.run(self._controller.start_workers(list(worker_ids)))

    async def stop_workers(self, worker_ids: Sequence[str]) -> ActionResult:
        return await self.engine.run(self._controller.stop_workers(list(worker_ids)))

    async def terminate_workers(self, worker_ids: Sequence[str]) -> ActionResult:
        return await self.engine.run(self._controller.terminate_workers(list(worker_ids)))

    async def create_worker(
        self, name: str, region: str, instance_type: str | None = None
    ) -> ActionResult:
        return await self.engine.run(self._controller.create_worker(name, region, instance_type))

    async def register_license(self, worker_id: str, token: str) -> ActionResult:
        return await self.engine.run(self._controller.register_license(worker_id, token))

    async def deregister_license(self, worker_id: str) -> ActionResult:
        return await self.engine.run(self._controller.deregister_license(worker_id))

    async def discover(self) -> list[DiscoveredInstance]:
        return await self.engine.run(self._controller.discover())

    async def import_instances(
        self, instances: Sequence[DiscoveredInstance | CMLWorkerInstanceDto]
    ) -> ActionResult:
        return await self.engine.run(self._controller.import_instances(list(instances)))

    async def reattach_workers(self, worker_ids: Sequence[str]) -> ActionResult:
        return await self.engine.run(self._controller.reattach_workers(list(worker_ids)))

    async def set_auto_stop_opt_out(self, worker_ids: Sequence[str], opt_out: bool) -> ActionResult:
        return await self.engine.run(
            self._controller.set_auto_stop_opt_out(list(worker_ids), opt_out)
        )

    async def set_policy(self, worker_ids: Sequence[str], change: PolicyChange) -> ActionResult:
        return await self.engine.run(self._controller.set_policy(list(worker_ids), change))

    async def forget_workers(self, worker_ids: Sequence[str]) -> ActionResult:
        return await self.engine.run(self._controller.forget_workers(list(worker_ids)))

    def on_engine(self, method: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
        """The controller's own method for one of ours (for a callable the engine awaits)."""
        if getattr(method, "__self__", None) is self:
            found: Callable[..., Awaitable[T]] = getattr(self._controller, method.__name__)
            return found
        return method

    # -- short queries (run on the engine loop, the caller blocked that long) -------------------

    def events_for(self, worker_id: str | None, limit: int = 200) -> list[CloudEvent]:
        """One worker's audit trail from memory, without waiting; every worker's, read on the
        engine loop.

        The detail pane asks on every cursor move: waiting for the engine loop there made a
        key wait for a whole reconciliation step (measured: key p99 of 300 ms), and a shared
        DynamoDB table would make it a network read. A worker's trail comes from the store's
        memory (``cached_trail``: the data file's index copied in one step, or the DynamoDB
        store's trail cache under its lock); one not read yet is asked of the engine, which
        reads it in a worker thread and publishes the worker again (the detail pane follows).
        Until then the answer is empty. The whole trail is for headless use.
        """
        if worker_id is None:
            return self.engine.call(self._controller.events_for, worker_id, limit)
        cached = self._controller.cached_trail(worker_id, limit)
        if cached is None:
            self.engine.call_soon(self._controller.want_trails, [worker_id])
            return []
        return cached

    def discovery_errors(self) -> list[str]:
        return self.engine.call(self._controller.discovery_errors)

    def name_problem(self, name: str) -> str | None:
        return self.engine.call(self._controller.name_problem, name)

    def in_flight_report(self) -> list[str]:
        return self.engine.call(self._controller.in_flight_report)

    def find(self, name_or_id: str) -> WorkerSnapshot | None:
        """A worker by id, instance id or name, as a frozen snapshot (the aggregate itself
        belongs to the engine thread)."""

        def look() -> WorkerSnapshot | None:
            worker = self._controller.find(name_or_id)
            return self._controller.snapshot(worker) if worker is not None else None

        return self.engine.call(look)

    def labs(self) -> LabsService:
        """The labs service as the UI uses it: an ``EngineLabs``, which offers every method of
        ``LabsService`` the screens call (``FleetService.labs`` names the concrete class)."""
        if self._labs is None:
            self._labs = EngineLabs(self)
        return cast("LabsService", self._labs)

    def engine_labs(self) -> EngineLabs:
        self.labs()
        assert self._labs is not None
        return self._labs

    @property
    def controller(self) -> FleetController:
        """The controller itself: for code that runs on the engine loop only."""
        return self._controller


class EngineLabs:
    """The labs service (``cmltui.services.labs.LabsService``) seen from the UI's loop."""

    def __init__(self, service: EngineService) -> None:
        self._service = service
        self.engine = service.engine

    def _on_engine(self) -> LabsService:  # engine thread only
        return self._service.controller.labs()

    async def _run(self, call: Callable[[LabsService], Awaitable[T]]) -> T:
        async def on_engine() -> T:
            return await call(self._on_engine())

        return await self.engine.run(on_engine())

    def session(self, worker_id: str) -> EngineLabSession:
        return EngineLabSession(self, worker_id)

    def open_sessions(self) -> list[str]:
        return self.engine.call(lambda: self._on_engine().open_sessions())

    async def act(self, worker_id: str, action: str, lab_ids: Sequence[str]) -> ActionResult:
        ids = list(lab_ids)
        return await self._run(lambda labs: labs.act(worker_id, action, ids))

    async def stop_wipe_delete(self, worker_id: str, lab_ids: Sequence[str]) -> ActionResult:
        ids = list(lab_ids)
        return await self._run(lambda labs: labs.stop_wipe_delete(worker_id, ids))

    async def check_download(self, path: str | Path, *, overwrite: bool = False) -> Path:
        return await self._run(lambda labs: labs.check_download(path, overwrite=overwrite))

    async def download(
        self, worker_id: str, lab_id: str, path: str | Path, *, overwrite: bool = False
    ) -> ActionResult:
        return await self._run(
            lambda labs: labs.download(worker_id, lab_id, path, overwrite=overwrite)
        )

    async def check_topology_file(self, path: str | Path) -> TopologyFile:
        return await self._run(lambda labs: labs.check_topology_file(path))

    async def import_topology(
        self, worker_id: str, topology: TopologyFile | str | Path, title: str | None = None
    ) -> ActionResult:
        return await self._run(lambda labs: labs.import_topology(worker_id, topology, title))

    async def running_labs(
        self, worker_ids: Sequence[str]
    ) -> dict[str, tuple[list[LabSnapshot], str | None]]:
        ids = list(worker_ids)
        return await self._run(lambda labs: labs.running_labs(ids))

    async def stop_labs_then(
        self,
        worker_ids: Sequence[str],
        then: Callable[[list[str]], Awaitable[ActionResult]],
        action: str,
    ) -> ActionResult:
        ids = list(worker_ids)
        # ``then`` is one of our actions (stop or terminate): the engine calls the
        # controller's own rather than crossing back through us.
        then_on_engine = self._service.on_engine(then)
        return await self._run(lambda labs: labs.stop_labs_then(ids, then_on_engine, action))


class EngineLabSession:
    """One worker's lab session (``LabSession``) seen from the UI's loop: the session itself
    is made, opened, polled and closed on the engine loop; its updates come back to the loop
    that opened it."""

    def __init__(self, labs: EngineLabs, worker_id: str) -> None:
        self.worker_id = worker_id
        self._labs = labs
        self._session: LabSession | None = None  # engine thread only
        self._loop: asyncio.AbstractEventLoop | None = None
        self._listener: Callable[[LabsUpdate], None] | None = None

    def open(self, listener: Callable[[LabsUpdate], None]) -> None:
        """Start polling on the engine; ``listener`` gets each update on this loop."""
        self._loop = asyncio.get_running_loop()
        self._listener = listener
        self._labs.engine.call_soon(self._open_on_engine)

    def _open_on_engine(self) -> None:  # engine thread
        if self._session is None:
            self._session = self._labs._on_engine().session(self.worker_id)
        self._session.open(self._relay)

    def _relay(self, update: LabsUpdate) -> None:  # engine thread
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(self._deliver, update)
        except RuntimeError:
            pass

    def _deliver(self, update: LabsUpdate) -> None:  # the opener's loop
        listener = self._listener
        if listener is None:
            return  # closed meanwhile
        try:
            listener(update)
        except Exception:
            log.exception("labs listener failed")

    async def close(self) -> None:
        """Stop polling (on the engine) and deliver nothing more."""
        self._listener = None
        try:
            await self._labs.engine.run(self._close_on_engine())
        except EngineStopped:
            pass  # nothing polls any more

    async def _close_on_engine(self) -> None:
        if self._session is not None:
            await self._session.close()

    def request_refresh(self) -> None:
        self._labs.engine.call_soon(self._refresh_on_engine)

    def _refresh_on_engine(self) -> None:
        if self._session is not None:
            self._session.request_refresh()

    def polls(self) -> int:
        """Polls made so far (asked of the engine)."""
        return self._labs.engine.call(lambda: self._session.polls if self._session else 0)


def engine_error(change_set: ChangeSet) -> SourceHealth | None:
    """The engine's own error in a change set, if it carries one."""
    return next((h for h in change_set.errors if h.source == ENGINE_SOURCE), None)


__all__: list[str] = [
    "ENGINE_SOURCE",
    "EngineLabSession",
    "EngineLabs",
    "EngineService",
    "engine_error",
]
