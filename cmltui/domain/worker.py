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

from cmltui.domain.clock import Clock, utc_now
from cmltui.domain.enums import CMLServiceStatus, CMLWorkerStatus, LicenseStatus
from cmltui.domain.errors import ActionRefusedError, InvalidTelemetryError
from cmltui.domain.events import (
    CMLServiceStatusUpdatedDomainEvent,
    CMLWorkerAutoStartedDomainEvent,
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
from cmltui.domain.worker_intents import WorkerIntents
from cmltui.domain.worker_policy import WorkerPolicy
from cmltui.domain.worker_queries import connect_refusal
from cmltui.domain.worker_state import CMLWorkerState, PendingAction

__all__ = ["CMLWorker", "CMLWorkerState", "PendingAction", "mask_secret"]

#: What two states may differ in and still be the same (see ``rebase``). A set, never changed:
#: pydantic's ``exclude`` is typed for a set, not a frozenset.
_NOT_COMPARED: set[str] = {"version", "updated_at"}

#: EC2 states that show a requested lifecycle action happened (when its caller died first).
_CONFIRMED_BY: dict[str, frozenset[CMLWorkerStatus]] = {
    "start": frozenset({CMLWorkerStatus.PENDING, CMLWorkerStatus.RUNNING}),
    "stop": frozenset({CMLWorkerStatus.STOPPING, CMLWorkerStatus.STOPPED}),
    "auto-stop": frozenset({CMLWorkerStatus.STOPPING, CMLWorkerStatus.STOPPED}),
    "auto-start": frozenset({CMLWorkerStatus.PENDING, CMLWorkerStatus.RUNNING}),
    "terminate": frozenset({CMLWorkerStatus.SHUTTING_DOWN, CMLWorkerStatus.TERMINATED}),
}


def mask_secret(secret: str | None) -> str | None:
    """Keep only the last four characters of a secret: ``'…ab12'``."""
    if not secret:
        return secret
    if secret.startswith("…"):
        return secret  # already masked
    return "…" + secret[-4:] if len(secret) > 4 else "…" + "*" * len(secret)


def _check_percent(label: str, value: float | None) -> None:
    if value is None:
        return
    if not isinstance(value, int | float) or value != value or not 0 <= value <= 100:
        raise InvalidTelemetryError(f"{label} {value!r} is outside 0-100")


class CMLWorker(WorkerIntents, WorkerPolicy):
    """A CML worker: an EC2 instance running Cisco Modeling Labs.

    Its intents (actions recorded before their calls) and lab audit records are in
    ``WorkerIntents``; its own policy (idle threshold, schedule, maintenance) in
    ``WorkerPolicy``."""

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

    def rebase(self, stored: CMLWorkerState) -> None:
        """Take a newer stored state (another process changed this worker) and re-apply the
        events recorded here since the last save on top of it, as the store will."""
        state = stored.model_copy(deep=True)
        kept: list[DomainEvent] = []
        for event in self._uncommitted:
            # An observation the other process already recorded changes nothing here: it is
            # dropped, so the trail never holds the same change twice.
            before = state.model_dump(exclude=_NOT_COMPARED)
            candidate = state.model_copy(deep=True)
            candidate.apply(event)
            if candidate.model_dump(exclude=_NOT_COMPARED) == before:
                continue
            state = candidate
            kept.append(event)
        self.state = state
        self._uncommitted = kept

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
        # An observed change that an open (interrupted) action asked for is that action's:
        # the newest one that asked for it.
        pending = None
        if changed_by is None:
            pending = next(
                (
                    a
                    for a in self.state.open_actions()
                    if new_status in _CONFIRMED_BY.get(a.action, frozenset())
                ),
                None,
            )
        confirms = pending is not None
        if pending is not None:
            changed_by = pending.requested_by
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
        if confirms and pending is not None:
            self.complete_action(
                pending.request_token, "confirmed", f"EC2 showed {new_status.value}"
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
        first_binding = s.aws_instance_id is None
        self._record(
            CMLWorkerInstanceAssignedDomainEvent(
                aggregate_id=self.id,
                aws_instance_id=aws_instance_id,
                public_ip=public_ip,
                private_ip=private_ip,
                assigned_at=self._clock(),
            )
        )
        pending = next((a for a in self.state.open_actions() if a.action == "create"), None)
        if pending is not None and first_binding:
            # The create's caller died before recording its answer: EC2 shows the instance.
            self.complete_action(
                pending.request_token, "confirmed", f"EC2 shows instance {aws_instance_id}"
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

    def idle_since(self) -> datetime | None:
        """When idleness starts counting: the last activity, but never before the last start
        (activity from before a stop must not make a just-started worker look idle); None
        before any telemetry."""
        s = self.state
        if s.last_activity_at is None:
            return None
        if s.last_started_at is not None and s.last_started_at > s.last_activity_at:
            return s.last_started_at
        return s.last_activity_at

    def idle_minutes(self, now: datetime | None = None) -> float | None:
        """Minutes since ``idle_since``, or None when the worker has never shown any."""
        since = self.idle_since()
        if since is None:
            return None
        elapsed = (now or self._clock()) - since
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

    def connect_refusal(self) -> str | None:
        """Why the worker cannot be connected to (``worker_queries``); None when it can."""
        s = self.state
        return connect_refusal(s.status, s.service_status, s.https_endpoint)

    def can_connect(self) -> bool:
        """Ready for connections: RUNNING, CML AVAILABLE, and an HTTPS endpoint known."""
        return self.connect_refusal() is None

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

    def record_auto_stop(self, reason: str, idle_minutes: float, *, kind: str = "idle") -> None:
        """A policy stopped this worker (``kind``: "idle" or "schedule"): record why, then
        show STOPPING."""
        self.check_can_stop()
        self._record(
            CMLWorkerAutoStoppedDomainEvent(
                aggregate_id=self.id,
                reason=reason,
                idle_minutes=round(idle_minutes, 1),
                stopped_at=self._clock(),
                kind=kind,
            )
        )
        actor = "cmltui:schedule" if kind == "schedule" else "cmltui:idle-policy"
        self.update_status(CMLWorkerStatus.STOPPING, changed_by=actor)

    def record_auto_start(self, reason: str, *, window_key: str | None = None) -> None:
        """A schedule started this worker (for the window opening ``window_key``): record
        why, then show PENDING."""
        self.check_can_start()
        self._record(
            CMLWorkerAutoStartedDomainEvent(
                aggregate_id=self.id,
                reason=reason,
                window_key=window_key,
                started_at=self._clock(),
            )
        )
        self.update_status(CMLWorkerStatus.PENDING, changed_by="cmltui:schedule")
