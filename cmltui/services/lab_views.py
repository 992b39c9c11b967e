"""What the labs screen and the lab commands show: frozen lab snapshots, the worker's busy
verdict, the update a poll hands over, and the controller's parts the labs service uses."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from cmltui.cml.models import LAB_STARTED, CmlLabDetails, lab_action_refusal
from cmltui.config import IdleConfig
from cmltui.domain.clock import Clock
from cmltui.domain.enums import CMLWorkerStatus
from cmltui.domain.plural import plural
from cmltui.domain.worker import CMLWorker
from cmltui.services.ports import CmlClient
from cmltui.services.snapshot import WorkerSnapshot

#: How often an open labs screen reads its worker's labs (at most; the CML interval if less).
LAB_POLL_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class LabSnapshot:
    """One lab as shown: CML's own values (title and owner are remote text, shown escaped)."""

    id: str
    title: str
    state: str
    owner: str | None = None
    owner_fullname: str | None = None
    #: Nodes in the lab and how many of them run; None when CML did not say.
    node_count: int | None = None
    running_nodes: int | None = None
    link_count: int | None = None
    created: datetime | None = None
    modified: datetime | None = None
    description: str = ""

    @property
    def is_active(self) -> bool:
        return self.state == LAB_STARTED

    @property
    def short_id(self) -> str:
        return self.id[:8]

    @property
    def nodes(self) -> str:
        """``running/total`` (``?/5`` when the running count is unknown)."""
        total = "?" if self.node_count is None else str(self.node_count)
        running = "?" if self.running_nodes is None else str(self.running_nodes)
        return f"{running}/{total}"

    def refusal(self, action: str) -> str | None:
        """Why CML would refuse ``action`` on this lab now (its own rules), or None."""
        return lab_action_refusal(self.state, action)


def lab_snapshot(details: CmlLabDetails) -> LabSnapshot:
    return LabSnapshot(
        id=details.id,
        title=details.title,
        state=details.state,
        owner=details.owner_username,
        owner_fullname=details.owner_fullname,
        node_count=details.node_count,
        running_nodes=details.running_nodes,
        link_count=details.link_count,
        created=details.created,
        modified=details.modified,
        description=details.description,
    )


def lab_label(lab_id: str, title: str | None) -> str:
    """``"Title" (1a2b3c4d)``, raw: whoever shows it escapes it (``visible``)."""
    return f'"{title}" ({lab_id[:8]})' if title else f"lab {lab_id}"


def sorted_labs(labs: Iterable[LabSnapshot]) -> list[LabSnapshot]:
    return sorted(labs, key=lambda lab: (lab.title.casefold(), lab.title, lab.id))


@dataclass(frozen=True, slots=True)
class BusyVerdict:
    """Whether the worker counts as busy for the idle policy, and why, in one line."""

    busy: bool
    reason: str


def busy_verdict(
    worker: WorkerSnapshot | None, labs: Iterable[LabSnapshot], idle: IdleConfig
) -> BusyVerdict:
    """Why the idle policy would (not) stop this worker, from its snapshot and its labs."""
    if worker is None:
        return BusyVerdict(False, "the worker is no longer in the fleet")
    if worker.status != CMLWorkerStatus.RUNNING:
        return BusyVerdict(False, f"not busy: the worker is {worker.status.value}")
    started = [lab for lab in sorted_labs(labs) if lab.is_active]
    if started:
        named = [f'"{lab.title}" by {lab.owner or "?"}' for lab in started[:3]]
        more = f" and {len(started) - 3} more" if len(started) > 3 else ""
        what = "1 lab runs" if len(started) == 1 else f"{len(started)} labs run"
        return BusyVerdict(
            True,
            f"busy: {what}, and the idle policy never stops a worker while a lab runs "
            f"({', '.join(named)}{more})",
        )
    if worker.telemetry_live and worker.active_labs_count > 0:
        return BusyVerdict(
            True,
            "busy: the last fleet refresh counted "
            f"{plural(worker.active_labs_count, 'running lab')}; "
            "the idle policy waits until none runs",
        )
    cpu = worker.cpu_utilization
    if cpu is not None and cpu >= idle.cpu_activity_threshold_percent:
        return BusyVerdict(
            True,
            f"busy: CPU at {cpu:.0f}% (activity from {idle.cpu_activity_threshold_percent:g}%)",
        )
    if worker.idle_minutes is None:
        return BusyVerdict(False, "no lab runs; no activity seen yet")
    idle_for = f"no lab runs, idle for {worker.idle_minutes:.0f} min"
    if worker.auto_stop_opt_out:
        return BusyVerdict(False, f"{idle_for}; opted out of idle auto-stop")
    if worker.auto_stop_in_minutes is None:
        return BusyVerdict(False, f"{idle_for} (threshold {idle.threshold_minutes} min)")
    return BusyVerdict(
        False, f"{idle_for}; auto-stop would stop it in {worker.auto_stop_in_minutes:.0f} min"
    )


@dataclass(frozen=True, slots=True)
class LabsUpdate:
    """One poll of a worker's labs: what changed since the last, and the facts around it."""

    worker_id: str
    worker: WorkerSnapshot | None
    busy: BusyVerdict
    changed: tuple[LabSnapshot, ...] = ()
    removed_ids: tuple[str, ...] = ()
    #: Every lab (not a diff): the receiver drops what it holds first.
    is_full: bool = False
    #: CML answered at least once since the session opened.
    loaded: bool = False
    #: Why the labs could not be read (the last known stay), or None.
    error: str | None = None
    error_since: datetime | None = None
    fetched_at: datetime | None = None
    total: int = 0
    started: int = 0
    running_nodes: int = 0
    node_count: int = 0


@dataclass(frozen=True)
class LabHost:
    """What the labs service needs of the fleet controller, as bound methods."""

    find: Callable[[str], CMLWorker | None]
    client: Callable[[CMLWorker], CmlClient]
    snapshot: Callable[[CMLWorker], WorkerSnapshot]
    #: ``(action, workers, actor, target=)`` -> worker id -> token, or None when not saved.
    record_intents: Callable[..., Awaitable[dict[str, str] | None]]
    #: Save a worker's new events (the outcome of the call with this token) and publish.
    settle: Callable[[CMLWorker, str], Awaitable[None]]
    #: Why intents could not be saved (the store's error).
    unsaved_reason: Callable[[], str]
    is_read_only: Callable[[], bool]
    user: str
    clock: Clock
    idle: IdleConfig
    poll_seconds: float = LAB_POLL_SECONDS


def reachable_problem(worker: CMLWorker | None, worker_id: str) -> str | None:
    """Why this worker's labs cannot be read or changed now, or None."""
    if worker is None:
        return f"{worker_id}: no such worker"
    if worker.state.status != CMLWorkerStatus.RUNNING:
        return f"{worker.name} is {worker.state.status.value}: its labs cannot be reached"
    if not worker.state.https_endpoint:
        return f"{worker.name} has no CML endpoint yet"
    return None
