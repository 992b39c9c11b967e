"""Immutable views the controller publishes to the UI: worker snapshots and change sets."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from cmltui.domain.enums import CMLServiceStatus, CMLWorkerStatus, LicenseStatus
from cmltui.domain.worker_queries import connect_refusal
from cmltui.services.policy_view import PolicyView


@dataclass(frozen=True, slots=True)
class WorkerSnapshot:
    """Everything the UI shows about one worker, frozen at publication time."""

    id: str
    name: str
    region: str
    aws_instance_id: str | None
    instance_type: str
    ami_id: str | None
    ami_name: str | None
    status: CMLWorkerStatus
    service_status: CMLServiceStatus
    cml_version: str | None
    license_status: LicenseStatus
    license_token_masked: str | None
    https_endpoint: str | None
    public_ip: str | None
    private_ip: str | None
    active_labs_count: int
    cpu_utilization: float | None
    memory_utilization: float | None
    last_activity_at: datetime | None
    created_at: datetime | None
    created_by: str | None
    updated_at: datetime | None
    terminated_at: datetime | None
    terminated_by: str | None
    last_started_at: datetime | None
    #: Minutes since the last activity (None: never seen any).
    idle_minutes: float | None
    is_idle: bool
    #: With auto-stop: minutes until the idle policy stops it (None: it would not).
    auto_stop_in_minutes: float | None
    auto_stop_opt_out: bool
    uptime_seconds: float | None
    hourly_cost_usd: float
    cost_so_far_usd: float
    #: Last refresh error for this worker (CML or EC2) and since when; None when healthy.
    last_error: str | None = None
    last_error_since: datetime | None = None
    #: CML TLS verification is off for this worker: show it as insecure.
    tls_insecure: bool = False
    cml_version_supported: bool = True
    cpu_history: tuple[float, ...] = ()
    memory_history: tuple[float, ...] = ()
    labs_history: tuple[int, ...] = ()
    #: True when cpu/memory/labs above are live (the worker runs and its figures are fresh).
    #: When False those three are None/None/0 and the ``seen_*`` fields keep the last figures.
    telemetry_live: bool = True
    #: When the last telemetry (CML or CloudWatch) was taken; None: never.
    telemetry_at: datetime | None = None
    seen_cpu_utilization: float | None = None
    seen_memory_utilization: float | None = None
    seen_active_labs_count: int = 0
    #: The instance is still in EC2 but lost cmltui's managed tag: shown, kept, never called
    #: terminated; a key re-tags it.
    detached: bool = False
    #: Per-worker problems other than the CML error: mapping failures, copies of its instance
    #: carrying its worker id ("i-0abc is a copy: same cmltui:worker-id tag"), and the like.
    problems: tuple[str, ...] = ()
    #: Running, and its CML has not answered yet (since cmltui started, or since the worker
    #: did): ``service_status`` is only what an earlier run last heard, not known now.
    service_pending: bool = False

    #: ``cml_worker_username@address`` (public IP, else private) for SSH; None without one.
    ssh_login: str | None = None
    #: Billed so far today and this week ([cost] time_zone, week_starts), from the recorded
    #: lifecycle events; saved: what automatic stops avoided in the same periods.
    cost_today_usd: float = 0.0
    cost_week_usd: float = 0.0
    saved_today_usd: float = 0.0
    saved_week_usd: float = 0.0
    #: Its own policy, what is in force and its next automatic action (``policy_view``).
    policy: PolicyView | None = None

    @property
    def connect_refusal(self) -> str | None:
        """Why the worker cannot be connected to (the seed's rule); None when it can."""
        return connect_refusal(self.status, self.service_status, self.https_endpoint)

    @property
    def can_connect(self) -> bool:
        return self.connect_refusal is None


class RowFigures(NamedTuple):
    """What the header sums of a published row (not the row itself: its history tuples are
    ~17 KB a worker, which a process without a UI would otherwise keep for nothing)."""

    status: CMLWorkerStatus
    is_idle: bool
    seen_cpu_utilization: float | None
    hourly_cost_usd: float
    cost_so_far_usd: float

    @classmethod
    def of(cls, row: WorkerSnapshot) -> RowFigures:
        return cls(
            row.status,
            row.is_idle,
            row.seen_cpu_utilization,
            row.hourly_cost_usd,
            row.cost_so_far_usd,
        )


@dataclass(frozen=True, slots=True)
class FleetTotals:
    total: int = 0
    running: int = 0
    stopped: int = 0
    idle: int = 0
    average_cpu: float | None = None
    cost_per_hour_usd: float = 0.0
    cost_so_far_usd: float = 0.0
    #: The whole fleet's (terminated workers' too) billed and saved figures, as per worker.
    cost_today_usd: float = 0.0
    cost_week_usd: float = 0.0
    saved_today_usd: float = 0.0
    saved_week_usd: float = 0.0


@dataclass(frozen=True, slots=True)
class SourceHealth:
    """The health of one region (EC2/CloudWatch) or one worker's CML, for the status line."""

    source: str  # a region name, or "cml:<worker name>"
    error: str
    since: datetime
    retry_in_seconds: float | None = None


@dataclass(frozen=True, slots=True)
class ChangeSet:
    """What changed since the last publication: the UI touches only these rows."""

    changed: tuple[WorkerSnapshot, ...] = ()
    removed_ids: tuple[str, ...] = ()
    totals: FleetTotals = field(default_factory=FleetTotals)
    errors: tuple[SourceHealth, ...] = ()
    #: Last time every configured region answered (None: never since start).
    last_success_at: datetime | None = None
    #: True while the fleet shown is only the stored one (no region has answered yet).
    from_cache: bool = False
    #: True when every region failed in the last EC2 cycle.
    all_regions_failing: bool = False
    #: A full set (every worker) rather than a diff.
    is_full: bool = False
    generated_at: datetime | None = None
    #: Which cmltui process ("user@host:pid") runs the automatic policies on this data file
    #: (None: none, or not known yet), and whether it is this one.
    policy_runner: str | None = None
    policy_runner_is_me: bool = False


@dataclass(frozen=True, slots=True)
class ActionResult:
    """Outcome of an operator action, per worker: what was done and what was refused."""

    action: str
    done: tuple[str, ...] = ()  # worker names
    refused: tuple[str, ...] = ()  # "name: reason" lines
    failed: tuple[str, ...] = ()  # "name: error" lines

    @property
    def ok(self) -> bool:
        return not self.refused and not self.failed

    def summary(self) -> str:
        parts: list[str] = []
        if self.done:
            parts.append(f"{self.action}: {', '.join(self.done)}")
        parts.extend(self.refused)
        parts.extend(self.failed)
        return "; ".join(parts) or f"{self.action}: nothing to do"


@dataclass(frozen=True, slots=True)
class RefreshSummary:
    workers_seen: int
    aws_requests: int
    cml_requests: int
    cml_logins: int
    seconds: float
    errors: tuple[str, ...] = ()
