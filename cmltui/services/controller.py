"""The fleet controller: it composes the parts of the engine and owns their lifecycle.

It knows nothing of Textual. The UI (or the headless CLI) subscribes to change sets and calls
the action methods; everything observed goes through the aggregate's own methods, so domain
events fire exactly when something changed, and each cycle ends in one store write.

Each job is a part in its own module, sharing the state declared in ``ControllerBase``:
``projection`` (snapshots, totals, change sets), ``persistence`` (the data file, other
processes), ``ec2_refresh`` (+ the pure ``reconciler``), ``cloudwatch_refresh``, ``cml_poller``,
``idle_runner``, ``schedule_runner``, and the operator actions (``lifecycle_actions``,
``licence_actions``, ``adoption_actions``). This module keeps construction, the loops,
refresh-now and queries.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable
from datetime import datetime

from cmltui.config import Config
from cmltui.domain.clock import Clock, utc_now
from cmltui.domain.events import CloudEvent
from cmltui.domain.worker import CMLWorker
from cmltui.services.adoption_actions import AdoptionActionsMixin
from cmltui.services.cloudwatch_refresh import CloudWatchRefreshMixin
from cmltui.services.cml_poller import CmlPollerMixin
from cmltui.services.controller_base import (
    _HISTORY_WINDOW_SECONDS,
    _WorkerRuntime,
    current_os_user,
)
from cmltui.services.cost import CostLedger
from cmltui.services.ec2_refresh import Ec2RefreshMixin
from cmltui.services.history import history_capacity
from cmltui.services.idle_runner import IdleRunnerMixin
from cmltui.services.labs import LAB_POLL_SECONDS, LabHost, LabsService
from cmltui.services.licence_actions import LicenceActionsMixin
from cmltui.services.lifecycle_actions import LifecycleActionsMixin
from cmltui.services.persistence import PersistenceMixin
from cmltui.services.ports import (
    ChangeSetListener,
    CmlClientPool,
    FleetGateway,
    FleetStore,
)
from cmltui.services.projection import ProjectionMixin
from cmltui.services.reconciler import Ec2Reconciler
from cmltui.services.schedule_runner import ScheduleRunnerMixin
from cmltui.services.schedules import schedules_from_config
from cmltui.services.snapshot import (
    RefreshSummary,
    RowFigures,
    SourceHealth,
)
from cmltui.services.trails import TrailsMixin

__all__ = ["FleetController", "current_os_user"]

log = logging.getLogger("cmltui.controller")

#: Held loops (``start(hold_loops=True)``) run after this long even if nobody releases them.
LOOP_HOLD_MAX_SECONDS = 5.0


class FleetController(
    ProjectionMixin,
    PersistenceMixin,
    Ec2RefreshMixin,
    CloudWatchRefreshMixin,
    CmlPollerMixin,
    IdleRunnerMixin,
    ScheduleRunnerMixin,
    LifecycleActionsMixin,
    LicenceActionsMixin,
    AdoptionActionsMixin,
    TrailsMixin,
):
    """Implements ``cmltui.services.ports.FleetService``."""

    def __init__(
        self,
        config: Config,
        repository: FleetStore,
        gateway: FleetGateway,
        cml_pool: CmlClientPool,
        *,
        clock: Clock = utc_now,
        user: str | None = None,
        read_only: bool = False,
    ) -> None:
        self.config = config
        self._repository = repository
        self._gateway = gateway
        self._cml_pool = cml_pool
        self._clock = clock
        self.user = user or current_os_user()
        self.read_only = read_only or config.read_only or repository.read_only
        #: Why, in the operator's words ("" when writable): the first cause that applies.
        self.read_only_reason = (
            "started with --read-only"
            if read_only
            else "read_only = true in the config"
            if config.read_only
            else repository.read_only_reason or "the data file cannot be written"
            if repository.read_only
            else ""
        )
        #: This process in the policy lease: "user@host:pid".
        where = "" if "@" in self.user else f"@{socket.gethostname().split('.', 1)[0]}"
        self.holder_id = f"{self.user}{where}:{os.getpid()}"
        #: Who runs the automatic policies, as last seen (None: nobody, or not asked yet).
        self.policy_runner: str | None = None
        self._workers: dict[str, CMLWorker] = {}
        self._runtime: dict[str, _WorkerRuntime] = {}
        self._region_errors: dict[str, SourceHealth] = {}
        self._listeners: list[ChangeSetListener] = []
        self._pending_ids: set[str] = set()
        self._removed_ids: set[str] = set()
        #: Each worker's row as last published (``ProjectionMixin.totals`` sums them).
        self._published: dict[str, RowFigures] = {}
        self._last_success_at: datetime | None = None
        self._all_regions_failing = False
        self._from_cache = True
        self._loaded = False
        self._tasks: list[asyncio.Task[None]] = []
        self._loops_released: asyncio.Event | None = None
        self._wake: dict[str, asyncio.Event] = {}
        self._stopping = False
        self._commit_lock = asyncio.Lock()
        self._conflicts_seen: dict[tuple[str, str], datetime] = {}
        #: Intents saved before their calls (for the crash script and tests).
        self.intents_saved = 0
        #: Request tokens whose calls this process has sent and not yet had answered.
        self._in_flight: set[str] = set()
        # One automatic-policy pass at a time: the EC2 and the CML loop both run one, and two
        # passes in flight at once would both stop a worker neither has seen stopping yet.
        self._policy_lock = asyncio.Lock()
        #: The uptime/idle step each row was last published at (see ``_touch_time_derived``).
        self._time_keys: dict[str, tuple[int | None, int | None, int]] = {}
        self._reconciler = Ec2Reconciler(
            self._workers,
            clock=clock,
            managed_tag_key=config.aws.managed_tag_key,
            endpoint_for=self._endpoint_for,
            on_not_running=self._clear_cml_runtime,
        )
        self._history_capacity = history_capacity(
            _HISTORY_WINDOW_SECONDS, config.refresh.cml_seconds
        )
        self.notices: list[str] = list(repository.notices)
        self._schedules = schedules_from_config(config)
        self._labs: LabsService | None = None
        self._cost = CostLedger(config.cost, self._billing_events)
        self._cost_steps: dict[str, tuple[object, ...]] = {}
        self._init_trails()

    async def load(self) -> None:
        """Load the stored fleet (the last known state) and publish it at once."""
        if self._loaded:
            return
        for worker in await self._repository.get_all_async():
            self._workers[worker.id] = worker
        self._loaded = True
        self._from_cache = True
        self._publish(list(self._workers))

    async def start(self, *, hold_loops: bool = False) -> None:
        """Load, publish, then run the three loops (each waits for its last run to finish).

        ``hold_loops``: the loops first wait for ``release_loops`` (at most
        ``LOOP_HOLD_MAX_SECONDS``): the dashboard paints the stored fleet before the first
        refresh competes with it for the CPU."""
        await self.load()
        if self._tasks:
            return
        self._stopping = False
        self._loops_released = asyncio.Event()
        if not hold_loops:
            self._loops_released.set()
        loops: list[tuple[str, float, Callable[[], Awaitable[None]]]] = [
            ("ec2", self.config.refresh.ec2_seconds, self.refresh_ec2),
            ("cloudwatch", self.config.refresh.cloudwatch_seconds, self.refresh_cloudwatch),
            ("cml", self.config.refresh.cml_seconds, self.refresh_cml),
        ]
        for name, interval, body in loops:
            self._wake[name] = asyncio.Event()
            self._tasks.append(asyncio.create_task(self._loop(name, interval, body), name=name))

    def release_loops(self) -> None:
        if self._loops_released is not None:
            self._loops_released.set()

    async def _loop(self, name: str, interval: float, body: Callable[[], Awaitable[None]]) -> None:
        wake = self._wake[name]
        if self._loops_released is not None and not self._loops_released.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._loops_released.wait(), LOOP_HOLD_MAX_SECONDS)
        if name != "ec2":
            # CloudWatch and CML need EC2's view of who runs where: give it a head start.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=0.5)
        while not self._stopping:
            wake.clear()
            try:
                await body()
            except asyncio.CancelledError:
                raise
            except Exception as err:
                # Shown on screen, not only logged: the loop goes on at its next interval.
                log.exception("%s refresh failed unexpectedly", name)
                key = f"loop:{name}"
                previous = self._region_errors.get(key)
                self._region_errors[key] = SourceHealth(
                    f"{name} refresh",
                    f"unexpected error: {type(err).__name__}: {err}",
                    previous.since if previous else self._clock(),
                    retry_in_seconds=interval,
                )
                with contextlib.suppress(Exception):
                    self._publish()
            else:
                if self._region_errors.pop(f"loop:{name}", None) is not None:
                    self._publish()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=interval)

    def request_refresh(self) -> None:
        """Wake every loop now; each runs once more without overlapping itself."""
        for event in self._wake.values():
            event.set()

    async def stop(self) -> None:
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        await self._stop_trails()
        if self._labs is not None:
            with contextlib.suppress(Exception):
                await self._labs.aclose()
        with contextlib.suppress(Exception):
            await self._commit()
        if self.policy_runner == self.holder_id and not self.read_only:
            with contextlib.suppress(Exception):  # another process may take over at once
                await asyncio.to_thread(self._repository.release_lease, self.holder_id)
        with contextlib.suppress(Exception):
            await self._cml_pool.aclose()
        with contextlib.suppress(Exception):
            await self._gateway.close()

    async def refresh_once(self) -> RefreshSummary:
        """One full cycle: EC2 first (it says who runs where), then CloudWatch and CML together."""
        aws_before = self._gateway.request_count
        cml_before = self._cml_pool.request_count
        logins_before = self._cml_pool.login_count
        started = time.perf_counter()
        await self.refresh_ec2()
        await asyncio.gather(self.refresh_cloudwatch(), self.refresh_cml())
        await self._trails_settled()  # the cost figures of a shared store's workers
        return RefreshSummary(
            workers_seen=len(self._workers),
            aws_requests=self._gateway.request_count - aws_before,
            cml_requests=self._cml_pool.request_count - cml_before,
            cml_logins=self._cml_pool.login_count - logins_before,
            seconds=time.perf_counter() - started,
            errors=tuple(f"{h.source}: {h.error}" for h in self._errors()),
        )

    @property
    def is_running(self) -> bool:
        """True while the refresh loops run (between ``start`` and ``stop``)."""
        return any(not task.done() for task in self._tasks)

    @property
    def aws_request_count(self) -> int:
        """AWS HTTP requests sent by this controller's gateway so far (retries included)."""
        return self._gateway.request_count

    @property
    def cml_request_count(self) -> int:
        return self._cml_pool.request_count

    def events_for(self, worker_id: str | None, limit: int = 200) -> list[CloudEvent]:
        return list(self._repository.events(worker_id=worker_id, limit=limit))

    def labs(self) -> LabsService:
        """The labs of each worker (polled only while a screen or a command looks at them)
        and the lab actions, recorded through this controller's intents and store."""
        if self._labs is None:
            self._labs = LabsService(
                LabHost(
                    find=self._workers.get,
                    client=self._client,
                    snapshot=self.snapshot,
                    record_intents=self._record_intents,
                    settle=self._settle,
                    unsaved_reason=lambda: (
                        self._region_errors["store"].error
                        if "store" in self._region_errors
                        else "the data file could not be written"
                    ),
                    is_read_only=lambda: self.read_only,
                    user=self.user,
                    clock=self._clock,
                    idle=self.config.idle,
                    poll_seconds=min(LAB_POLL_SECONDS, self.config.refresh.cml_seconds),
                )
            )
        return self._labs

    def find(self, name_or_id: str) -> CMLWorker | None:
        """A worker by id, instance id or (unique, live first) name."""
        if name_or_id in self._workers:
            return self._workers[name_or_id]
        for worker in self._workers.values():
            if worker.state.aws_instance_id == name_or_id:
                return worker
        named = [w for w in self._workers.values() if w.name == name_or_id]
        named.sort(key=lambda w: w.is_terminated)
        return named[0] if named else None
