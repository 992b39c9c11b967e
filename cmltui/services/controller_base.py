"""What every part of ``FleetController`` shares: its state (declared for the type checker),
its constants and small helpers."""

from __future__ import annotations

import asyncio
import getpass
import logging
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from cmltui.config import Config
from cmltui.domain.clock import Clock
from cmltui.domain.schedule import Schedule
from cmltui.domain.worker import CMLWorker, mask_secret
from cmltui.services.cost import CostLedger
from cmltui.services.history import TelemetryHistory
from cmltui.services.labs import LabsService
from cmltui.services.ports import (
    ChangeSetListener,
    CmlClient,
    CmlClientPool,
    FleetGateway,
    FleetStore,
)
from cmltui.services.reconciler import Ec2Reconciler
from cmltui.services.snapshot import (
    ActionResult,
    RowFigures,
    SourceHealth,
)

log = logging.getLogger("cmltui.controller")

#: Telemetry history window for the sparklines.
_HISTORY_WINDOW_SECONDS = 3600.0
_IDLE_POLICY_ACTOR = "cmltui:idle-policy"
#: How long an interrupted action may take to show in EC2 before it is given up on.
_PENDING_ACTION_WAIT = timedelta(minutes=15)


def _mask_in(text: str, secret: str) -> str:
    """``text`` with every copy of ``secret`` replaced by its masked form (last 4 characters)."""
    return text.replace(secret, mask_secret(secret) or "") if secret else text


def _without_region(message: str, region: str) -> str:
    """The gateway names the region in its messages; the status line names the source already."""
    return message.removeprefix(f"{region}: ")


def current_os_user() -> str:
    """Who acts, as recorded in created_by / requested_by / changed_by: the OS user and this
    machine's short host name ("alice@jump1"), so that a team sharing a store sees from where."""
    try:
        user = getpass.getuser()
    except Exception:  # getpass raises various errors when no user database entry exists
        user = "unknown"
    host = socket.gethostname().split(".", 1)[0]
    return f"{user}@{host}" if host else user


@dataclass
class _WorkerRuntime:
    """Per-worker facts the aggregate does not keep: history, errors, CloudWatch CPU."""

    history: TelemetryHistory
    cml_error: str | None = None
    cml_error_since: datetime | None = None
    cloudwatch_cpu: float | None = None
    cml_cpu_known: bool = False
    license_checked_at: datetime | None = None
    #: The next CML cycle reads everything (see ``CmlPollerMixin._full_read_due``).
    cml_full_read_due: bool = True
    cml_cycles_since_full: int = 0
    cml_first_full_done: bool = False
    version_supported: bool = True
    #: When the last CML or CloudWatch figures were applied (None: not since start).
    telemetry_at: datetime | None = None
    #: CML answered (anything, an error too) since cmltui or the worker started; until then
    #: the snapshot shows its service as pending. Set by the CML cycle, cleared on a stop.
    cml_answered: bool = False
    #: The last CML cycle took this worker's figures from the policy runner's stored ones
    #: (its poll mark) instead of asking CML: CloudWatch is not asked for it either.
    cml_borrowed: bool = False
    #: The poll mark those figures came with (each mark adds one history point).
    borrowed_mark_at: datetime | None = None


class ControllerBase:
    """The controller's shared state; each part (a mixin in its own module) uses it."""

    if TYPE_CHECKING:
        config: Config
        user: str
        read_only: bool
        holder_id: str
        policy_runner: str | None
        intents_saved: int
        notices: list[str]
        _repository: FleetStore
        _gateway: FleetGateway
        _cml_pool: CmlClientPool
        _clock: Clock
        _workers: dict[str, CMLWorker]
        _runtime: dict[str, _WorkerRuntime]
        _region_errors: dict[str, SourceHealth]
        _listeners: list[ChangeSetListener]
        _pending_ids: set[str]
        _removed_ids: set[str]
        _published: dict[str, RowFigures]
        _last_success_at: datetime | None
        _all_regions_failing: bool
        _from_cache: bool
        _loaded: bool
        _tasks: list[asyncio.Task[None]]
        _wake: dict[str, asyncio.Event]
        _stopping: bool
        _commit_lock: asyncio.Lock
        _conflicts_seen: dict[tuple[str, str], datetime]
        _in_flight: set[str]
        _policy_lock: asyncio.Lock
        _reconciler: Ec2Reconciler
        _history_capacity: int
        _labs: LabsService | None
        _time_keys: dict[str, tuple[int | None, int | None, int]]
        _cost: CostLedger
        _cost_steps: dict[str, tuple[object, ...]]
        _schedules: dict[str, Schedule]

        # What one part calls on another, declared here so that each part is checked alone;
        # the part named in each comment implements it (mypy checks that it matches).
        async def load(self) -> None: ...  # controller
        def _runtime_for(self, worker_id: str) -> _WorkerRuntime: ...  # projection
        def _publish(self, worker_ids: Sequence[str] | None = None) -> None: ...  # projection
        def _touch(self, worker: CMLWorker) -> None: ...  # projection
        def _touch_time_derived(self) -> None: ...  # projection
        async def _commit(self) -> int: ...  # persistence
        async def _sync_store(self) -> None: ...  # persistence
        async def _forget(self, worker: CMLWorker) -> None: ...  # persistence
        def _client(self, worker: CMLWorker) -> CmlClient: ...  # cml_poller
        def _set_cml_error(  # cml_poller
            self, worker: CMLWorker, message: str | None
        ) -> None: ...
        async def _read_before_stop(  # cml_poller
            self, workers: Sequence[CMLWorker]
        ) -> bool: ...
        async def _apply_idle_policy(  # idle_runner
            self, lease_held: bool | None = None
        ) -> None: ...
        async def _holds_policy_lease(self) -> bool: ...  # idle_runner
        async def _apply_schedules(self) -> None: ...  # schedule_runner
        def _schedule_governs(self, worker: CMLWorker) -> bool: ...  # schedule_runner
        def _schedule_problems_of(  # schedule_runner
            self, worker: CMLWorker
        ) -> tuple[str, ...]: ...
        def _resolve(  # lifecycle_actions
            self, worker_ids: Sequence[str]
        ) -> tuple[list[CMLWorker], list[str]]: ...
        def _refuse_all(  # lifecycle_actions
            self, action: str, worker_ids: Sequence[str], reason: str
        ) -> ActionResult: ...
        async def _record_intents(  # lifecycle_actions
            self,
            action: str,
            workers: Sequence[CMLWorker],
            actor: str | None = None,
            *,
            target: str | None = None,
        ) -> dict[str, str] | None: ...
        def _intent_unsaved(  # lifecycle_actions
            self, allowed: dict[str, list[CMLWorker]]
        ) -> list[str]: ...
        def _live_name_keys(self) -> set[str]: ...  # adoption_actions
