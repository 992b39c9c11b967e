"""The CMLWorker aggregate.

It follows the seed's AggregateState pattern: every behaviour method decides, records a domain
event, and the event alone changes the state (``CMLWorkerState.apply``). Replaying a worker's
stored events therefore rebuilds the same state. Methods that observe the outside world
(``update_*``) record an event only when a value actually changed.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict

from cmltui.domain.clock import Clock, utc_now
from cmltui.domain.enums import CMLServiceStatus, CMLWorkerStatus, LicenseStatus
from cmltui.domain.errors import ActionRefusedError, InvalidTelemetryError
from cmltui.domain.events import (
    CMLServiceStatusUpdatedDomainEvent,
    CMLWorkerAutoStoppedDomainEvent,
    CMLWorkerCreatedDomainEvent,
    CMLWorkerEndpointUpdatedDomainEvent,
    CMLWorkerIdlePolicyUpdatedDomainEvent,
    CMLWorkerInstanceAssignedDomainEvent,
    CMLWorkerLicenseUpdatedDomainEvent,
    CMLWorkerStatusUpdatedDomainEvent,
    CMLWorkerTelemetryUpdatedDomainEvent,
    CMLWorkerTerminatedDomainEvent,
    DomainEvent,
)

#: States from which a start would move the worker (into PENDING) in a way the clock should
#: count as a fresh start for the idle snooze.
_STOPPED_LIKE = frozenset({CMLWorkerStatus.STOPPED, CMLWorkerStatus.STOPPING})


def mask_secret(secret: str | None) -> str | None:
    """Keep only the last four characters of a secret: ``'…ab12'``."""
    if not secret:
        return secret
    if secret.startswith("…"):
        return secret  # already masked
    return "…" + secret[-4:] if len(secret) > 4 else "…" + "*" * len(secret)


class CMLWorkerState(BaseModel):
    """Every attribute of the seed's CMLWorker, plus the few cmltui derives from its events."""

    model_config = ConfigDict(extra="ignore")

    # Identity & infrastructure
    id: str = ""
    name: str = ""
    aws_region: str = ""
    aws_instance_id: str | None = None
    instance_type: str = ""
    ami_id: str | None = None
    ami_name: str | None = None
    # State management
    status: CMLWorkerStatus = CMLWorkerStatus.UNKNOWN
    service_status: CMLServiceStatus = CMLServiceStatus.UNAVAILABLE
    # CML integration
    cml_version: str | None = None
    license_status: LicenseStatus = LicenseStatus.UNREGISTERED
    license_token: str | None = None
    https_endpoint: str | None = None
    # Networking
    public_ip: str | None = None
    private_ip: str | None = None
    # Telemetry & monitoring
    last_activity_at: datetime | None = None
    active_labs_count: int = 0
    cpu_utilization: float | None = None
    memory_utilization: float | None = None
    # Audit trail
    created_at: datetime | None = None
    updated_at: datetime | None = None
    terminated_at: datetime | None = None
    created_by: str | None = None
    terminated_by: str | None = None
    # cmltui additions, all derived from events
    #: When the worker last left a stopped state (a start by anyone, cmltui or not).
    last_started_at: datetime | None = None
    #: The operator who asked for termination, until EC2 confirms it.
    termination_requested_by: str | None = None
    auto_stop_opt_out: bool = False
    last_auto_stop_at: datetime | None = None
    last_auto_stop_reason: str | None = None
    #: When the figures above were last measured (their age when shown from the data file).
    last_telemetry_at: datetime | None = None
    #: Number of events applied: the aggregate's version.
    version: int = 0

    def apply(self, event: DomainEvent) -> None:
        """Change the state by one event; the only way state changes."""
        handler = getattr(self, "_on_" + type(event).__name__, None)
        if handler is None:
            raise TypeError(f"no handler for {type(event).__name__}")
        handler(event)
        self.updated_at = event.occurred_at
        self.version += 1

    def _on_CMLWorkerCreatedDomainEvent(self, e: CMLWorkerCreatedDomainEvent) -> None:
        self.id = e.aggregate_id
        self.name = e.name
        self.aws_region = e.aws_region
        self.aws_instance_id = e.aws_instance_id
        self.instance_type = e.instance_type
        self.ami_id = e.ami_id
        self.ami_name = e.ami_name
        self.status = e.status
        self.cml_version = e.cml_version
        self.created_at = e.created_at
        self.created_by = e.created_by
        if e.status in (CMLWorkerStatus.PENDING, CMLWorkerStatus.RUNNING):
            self.last_started_at = e.created_at

    def _on_CMLWorkerStatusUpdatedDomainEvent(self, e: CMLWorkerStatusUpdatedDomainEvent) -> None:
        leaving_stopped = e.old_status in _STOPPED_LIKE or e.old_status == CMLWorkerStatus.UNKNOWN
        if e.new_status in (CMLWorkerStatus.PENDING, CMLWorkerStatus.RUNNING) and leaving_stopped:
            self.last_started_at = e.updated_at
        if e.new_status == CMLWorkerStatus.SHUTTING_DOWN and e.changed_by:
            self.termination_requested_by = e.changed_by
        self.status = e.new_status

    def _on_CMLServiceStatusUpdatedDomainEvent(self, e: CMLServiceStatusUpdatedDomainEvent) -> None:
        self.service_status = e.new_service_status
        if e.https_endpoint is not None:
            self.https_endpoint = e.https_endpoint
        if e.cml_version is not None:
            self.cml_version = e.cml_version

    def _on_CMLWorkerInstanceAssignedDomainEvent(
        self, e: CMLWorkerInstanceAssignedDomainEvent
    ) -> None:
        self.aws_instance_id = e.aws_instance_id
        self.public_ip = e.public_ip
        self.private_ip = e.private_ip

    def _on_CMLWorkerLicenseUpdatedDomainEvent(self, e: CMLWorkerLicenseUpdatedDomainEvent) -> None:
        self.license_status = e.license_status
        if e.license_token is not None:
            self.license_token = e.license_token

    def _on_CMLWorkerTelemetryUpdatedDomainEvent(
        self, e: CMLWorkerTelemetryUpdatedDomainEvent
    ) -> None:
        self.last_activity_at = e.last_activity_at
        self.active_labs_count = e.active_labs_count
        self.cpu_utilization = e.cpu_utilization
        self.memory_utilization = e.memory_utilization
        self.last_telemetry_at = e.updated_at

    def _on_CMLWorkerEndpointUpdatedDomainEvent(
        self, e: CMLWorkerEndpointUpdatedDomainEvent
    ) -> None:
        self.https_endpoint = e.https_endpoint
        self.public_ip = e.public_ip

    def _on_CMLWorkerTerminatedDomainEvent(self, e: CMLWorkerTerminatedDomainEvent) -> None:
        self.status = CMLWorkerStatus.TERMINATED
        self.terminated_at = e.terminated_at
        self.terminated_by = e.terminated_by
        self.termination_requested_by = None

    def _on_CMLWorkerIdlePolicyUpdatedDomainEvent(
        self, e: CMLWorkerIdlePolicyUpdatedDomainEvent
    ) -> None:
        self.auto_stop_opt_out = e.auto_stop_opt_out

    def _on_CMLWorkerAutoStoppedDomainEvent(self, e: CMLWorkerAutoStoppedDomainEvent) -> None:
        self.last_auto_stop_at = e.stopped_at
        self.last_auto_stop_reason = e.reason


def _check_percent(label: str, value: float | None) -> None:
    if value is None:
        return
    if not isinstance(value, int | float) or value != value or not 0 <= value <= 100:
        raise InvalidTelemetryError(f"{label} {value!r} is outside 0-100")


class CMLWorker:
    """A CML worker: an EC2 instance running Cisco Modeling Labs."""

    def __init__(
        self,
        name: str,
        aws_region: str,
        instance_type: str,
        ami_id: str | None = None,
        ami_name: str | None = None,
        cml_version: str | None = None,
        created_by: str | None = None,
        *,
        aws_instance_id: str | None = None,
        status: CMLWorkerStatus = CMLWorkerStatus.PENDING,
        worker_id: str | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self._clock = clock
        self._uncommitted: list[DomainEvent] = []
        self.state = CMLWorkerState()
        if not name or not name.strip():
            raise ValueError("a worker needs a name")
        self._record(
            CMLWorkerCreatedDomainEvent(
                aggregate_id=worker_id or str(uuid.uuid4()),
                name=name,
                aws_region=aws_region,
                aws_instance_id=aws_instance_id,
                instance_type=instance_type,
                ami_id=ami_id,
                ami_name=ami_name,
                status=status,
                cml_version=cml_version,
                created_at=clock(),
                created_by=created_by,
            )
        )

    # ------------------------------------------------------------------ construction
    @classmethod
    def _blank(cls, clock: Clock) -> CMLWorker:
        worker = cls.__new__(cls)
        worker._clock = clock
        worker._uncommitted = []
        worker.state = CMLWorkerState()
        return worker

    @classmethod
    def from_events(cls, events: Iterable[DomainEvent], *, clock: Clock = utc_now) -> CMLWorker:
        """Rebuild a worker by replaying its events in order (nothing is left uncommitted)."""
        worker = cls._blank(clock)
        for event in events:
            worker.state.apply(event)
        if not worker.state.id:
            raise ValueError("an event stream must start with CMLWorkerCreatedDomainEvent")
        return worker

    @classmethod
    def from_state(cls, state: CMLWorkerState, *, clock: Clock = utc_now) -> CMLWorker:
        """Rehydrate a worker from a stored state snapshot."""
        worker = cls._blank(clock)
        worker.state = state
        return worker

    # ------------------------------------------------------------------ event plumbing
    @property
    def id(self) -> str:
        return self.state.id

    @property
    def name(self) -> str:
        return self.state.name

    def _record(self, event: DomainEvent) -> None:
        self.state.apply(event)
        self._uncommitted.append(event)

    @property
    def uncommitted_events(self) -> tuple[DomainEvent, ...]:
        return tuple(self._uncommitted)

    def pull_uncommitted_events(self) -> list[DomainEvent]:
        """Hand over the events recorded since the last save and forget them."""
        events, self._uncommitted = self._uncommitted, []
        return events

    @property
    def is_terminated(self) -> bool:
        return self.state.status == CMLWorkerStatus.TERMINATED

    # ------------------------------------------------------------------ lifecycle
    def update_status(self, new_status: CMLWorkerStatus, *, changed_by: str | None = None) -> bool:
        """Apply an EC2 status. False when unchanged, and always for a terminated worker.

        EC2 is the source of truth, so any observed status applies, except that TERMINATED is
        final. Reaching TERMINATED also records the termination (time and who asked for it).
        """
        if self.is_terminated or new_status == self.state.status:
            return False
        now = self._clock()
        self._record(
            CMLWorkerStatusUpdatedDomainEvent(
                aggregate_id=self.id,
                old_status=self.state.status,
                new_status=new_status,
                updated_at=now,
                changed_by=changed_by,
            )
        )
        if new_status == CMLWorkerStatus.TERMINATED:
            self._record(
                CMLWorkerTerminatedDomainEvent(
                    aggregate_id=self.id,
                    name=self.name,
                    terminated_at=now,
                    terminated_by=changed_by or self.state.termination_requested_by,
                )
            )
        return True

    def update_service_status(
        self,
        new_service_status: CMLServiceStatus,
        https_endpoint: str | None = None,
        *,
        cml_version: str | None = None,
    ) -> bool:
        """Apply the CML service availability (and endpoint/version when given)."""
        if self.is_terminated:
            return False
        unchanged = (
            new_service_status == self.state.service_status
            and (https_endpoint is None or https_endpoint == self.state.https_endpoint)
            and (cml_version is None or cml_version == self.state.cml_version)
        )
        if unchanged:
            return False
        self._record(
            CMLServiceStatusUpdatedDomainEvent(
                aggregate_id=self.id,
                old_service_status=self.state.service_status,
                new_service_status=new_service_status,
                https_endpoint=https_endpoint,
                cml_version=cml_version,
                updated_at=self._clock(),
            )
        )
        return True

    def assign_instance(
        self, aws_instance_id: str, public_ip: str | None, private_ip: str | None
    ) -> bool:
        """Record the EC2 instance behind this worker and its addresses. False when unchanged."""
        if self.is_terminated or not aws_instance_id:
            return False
        s = self.state
        if (s.aws_instance_id, s.public_ip, s.private_ip) == (
            aws_instance_id,
            public_ip,
            private_ip,
        ):
            return False
        self._record(
            CMLWorkerInstanceAssignedDomainEvent(
                aggregate_id=self.id,
                aws_instance_id=aws_instance_id,
                public_ip=public_ip,
                private_ip=private_ip,
                assigned_at=self._clock(),
            )
        )
        return True

    def terminate(self, terminated_by: str | None = None) -> None:
        """Mark the worker terminated (final). A second call changes nothing."""
        if self.is_terminated:
            return
        self.update_status(CMLWorkerStatus.TERMINATED, changed_by=terminated_by)

    # ------------------------------------------------------------------ licence
    def update_license(
        self, license_status: LicenseStatus, license_token: str | None = None
    ) -> bool:
        """Apply the licence state; the token is kept masked. False when unchanged."""
        if self.is_terminated:
            return False
        masked_token = mask_secret(license_token)
        if license_status == self.state.license_status and (
            masked_token is None or masked_token == self.state.license_token
        ):
            return False
        self._record(
            CMLWorkerLicenseUpdatedDomainEvent(
                aggregate_id=self.id,
                license_status=license_status,
                license_token=masked_token,
                updated_at=self._clock(),
            )
        )
        return True

    # ------------------------------------------------------------------ telemetry
    def update_telemetry(
        self,
        last_activity_at: datetime | None,
        active_labs_count: int,
        cpu_utilization: float | None,
        memory_utilization: float | None,
    ) -> bool:
        """Apply collected telemetry. Out-of-range values are refused; False when unchanged."""
        if isinstance(active_labs_count, bool) or not isinstance(active_labs_count, int):
            raise InvalidTelemetryError(f"active labs {active_labs_count!r} is not a whole number")
        if active_labs_count < 0:
            raise InvalidTelemetryError(f"active labs {active_labs_count} is negative")
        _check_percent("CPU", cpu_utilization)
        _check_percent("memory", memory_utilization)
        if self.is_terminated:
            return False
        s = self.state
        if (s.last_activity_at, s.active_labs_count, s.cpu_utilization, s.memory_utilization) == (
            last_activity_at,
            active_labs_count,
            cpu_utilization,
            memory_utilization,
        ):
            return False
        self._record(
            CMLWorkerTelemetryUpdatedDomainEvent(
                aggregate_id=self.id,
                last_activity_at=last_activity_at,
                active_labs_count=active_labs_count,
                cpu_utilization=cpu_utilization,
                memory_utilization=memory_utilization,
                updated_at=self._clock(),
            )
        )
        return True

    def idle_minutes(self, now: datetime | None = None) -> float | None:
        """Minutes since the last activity, or None when the worker has never shown any."""
        if self.state.last_activity_at is None:
            return None
        elapsed = (now or self._clock()) - self.state.last_activity_at
        return max(elapsed / timedelta(minutes=1), 0.0)

    def is_idle(self, idle_threshold_minutes: int, *, now: datetime | None = None) -> bool:
        """Idle: activity seen, no active lab, and the last activity older than the threshold."""
        minutes = self.idle_minutes(now)
        return (
            minutes is not None
            and self.state.active_labs_count == 0
            and minutes >= idle_threshold_minutes
        )

    # ------------------------------------------------------------------ connectivity
    def update_endpoint(self, https_endpoint: str | None, public_ip: str | None = None) -> bool:
        """Apply the HTTPS endpoint (and public IP). False when unchanged."""
        if self.is_terminated:
            return False
        if (self.state.https_endpoint, self.state.public_ip) == (https_endpoint, public_ip):
            return False
        self._record(
            CMLWorkerEndpointUpdatedDomainEvent(
                aggregate_id=self.id,
                https_endpoint=https_endpoint,
                public_ip=public_ip,
                updated_at=self._clock(),
            )
        )
        return True

    def can_connect(self) -> bool:
        """Ready for connections: RUNNING, CML AVAILABLE, and an HTTPS endpoint known."""
        s = self.state
        return (
            s.status == CMLWorkerStatus.RUNNING
            and s.service_status == CMLServiceStatus.AVAILABLE
            and bool(s.https_endpoint)
        )

    # ------------------------------------------------------------------ operator intents
    def check_can_start(self) -> None:
        if self.state.status != CMLWorkerStatus.STOPPED:
            raise ActionRefusedError("start", self.name, f"it is {self.state.status}, not stopped")

    def check_can_stop(self) -> None:
        if self.state.status not in (CMLWorkerStatus.PENDING, CMLWorkerStatus.RUNNING):
            raise ActionRefusedError(
                "stop", self.name, f"it is {self.state.status}, not pending or running"
            )

    def check_can_terminate(self) -> None:
        if self.is_terminated:
            raise ActionRefusedError("terminate", self.name, "it is already terminated")

    def check_can_manage_license(self) -> None:
        if not self.can_connect():
            raise ActionRefusedError(
                "change the licence of",
                self.name,
                f"CML is not reachable (EC2 {self.state.status}, CML {self.state.service_status})",
            )

    def mark_starting(self, started_by: str | None) -> bool:
        """An operator start accepted by EC2: show PENDING until EC2 confirms RUNNING."""
        self.check_can_start()
        return self.update_status(CMLWorkerStatus.PENDING, changed_by=started_by)

    def mark_stopping(self, stopped_by: str | None) -> bool:
        """An operator stop accepted by EC2: show STOPPING until EC2 confirms STOPPED."""
        self.check_can_stop()
        return self.update_status(CMLWorkerStatus.STOPPING, changed_by=stopped_by)

    def mark_shutting_down(self, terminated_by: str | None) -> bool:
        """An operator terminate accepted by EC2: SHUTTING_DOWN until EC2 says TERMINATED."""
        self.check_can_terminate()
        return self.update_status(CMLWorkerStatus.SHUTTING_DOWN, changed_by=terminated_by)

    # ------------------------------------------------------------------ idle policy
    def set_auto_stop_opt_out(self, opt_out: bool, *, updated_by: str | None = None) -> bool:
        """Opt this worker out of idle auto-stop (or back in). False when unchanged."""
        if self.is_terminated or opt_out == self.state.auto_stop_opt_out:
            return False
        self._record(
            CMLWorkerIdlePolicyUpdatedDomainEvent(
                aggregate_id=self.id,
                auto_stop_opt_out=opt_out,
                updated_at=self._clock(),
                updated_by=updated_by,
            )
        )
        return True

    def record_auto_stop(self, reason: str, idle_minutes: float) -> None:
        """The idle policy stopped this worker: record why, then show STOPPING."""
        self.check_can_stop()
        self._record(
            CMLWorkerAutoStoppedDomainEvent(
                aggregate_id=self.id,
                reason=reason,
                idle_minutes=round(idle_minutes, 1),
                stopped_at=self._clock(),
            )
        )
        self.update_status(CMLWorkerStatus.STOPPING, changed_by="cmltui:idle-policy")
