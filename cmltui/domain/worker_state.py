"""The CMLWorker aggregate's state: every attribute of the seed's model, changed only by events.

``CMLWorkerState.apply`` is the one place state changes, so replaying a worker's stored events
rebuilds the same state.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from cmltui.domain.enums import CMLServiceStatus, CMLWorkerStatus, LicenseStatus
from cmltui.domain.events import (
    CMLServiceStatusUpdatedDomainEvent,
    CMLWorkerActionCompletedDomainEvent,
    CMLWorkerActionRequestedDomainEvent,
    CMLWorkerAutoStartedDomainEvent,
    CMLWorkerAutoStoppedDomainEvent,
    CMLWorkerCreatedDomainEvent,
    CMLWorkerEndpointUpdatedDomainEvent,
    CMLWorkerIdlePolicyUpdatedDomainEvent,
    CMLWorkerInstanceAssignedDomainEvent,
    CMLWorkerLabActionDomainEvent,
    CMLWorkerLicenseUpdatedDomainEvent,
    CMLWorkerPolicyChangedDomainEvent,
    CMLWorkerStatusUpdatedDomainEvent,
    CMLWorkerTelemetryCompactedDomainEvent,
    CMLWorkerTelemetryUpdatedDomainEvent,
    CMLWorkerTerminatedDomainEvent,
    DomainEvent,
)

#: Unanswered older actions kept (beyond that, the oldest is forgotten: 15 min expire them).
MAX_EARLIER_ACTIONS = 5


class PendingAction(BaseModel):
    """An operator's (or a policy's) action recorded before its AWS or CML call went out.

    It stays pending until its outcome is recorded: by the caller when the call answers, or,
    when the process died first, by reconciliation with what EC2 or CML later shows.
    """

    model_config = ConfigDict(frozen=True)

    action: str
    request_token: str
    requested_by: str | None = None
    requested_at: datetime
    aws_instance_id: str | None = None
    #: What it acts on inside the worker (a lab), when not the worker itself.
    target: str | None = None


#: States from which a start would move the worker (into PENDING) in a way the clock should
#: count as a fresh start for the idle snooze.
_STOPPED_LIKE = frozenset({CMLWorkerStatus.STOPPED, CMLWorkerStatus.STOPPING})


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
    #: The worker's own policy (``CMLWorkerPolicyChangedDomainEvent``); None: not set, its
    #: schedule's or the global setting applies (``cmltui.domain.policy``).
    policy_idle_minutes: int | None = None
    policy_schedule: str | None = None
    policy_maintenance_from: datetime | None = None
    policy_maintenance_until: datetime | None = None
    #: The last automatic start (a schedule's): when, why, and the window opening it was for.
    last_auto_start_at: datetime | None = None
    last_auto_start_reason: str | None = None
    last_auto_start_window: str | None = None
    #: A boot being timed: when the worker left a stopped state, until CML first answers
    #: AVAILABLE; then ``last_boot_to_ready_seconds`` (a schedule's learned lead time).
    boot_started_at: datetime | None = None
    last_boot_to_ready_seconds: float | None = None
    #: When the figures above were last measured (their age when shown from the data file).
    last_telemetry_at: datetime | None = None
    #: The action whose call may have gone out but whose outcome is not recorded yet.
    pending_action: PendingAction | None = None
    #: Older actions still unanswered when a newer one was asked for (another process's, or
    #: this one's before it died), oldest first: an observed change can still be theirs.
    earlier_actions: tuple[PendingAction, ...] = ()
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
            # A boot is timed only from a seen stopped state (not an import found running).
            if e.old_status in _STOPPED_LIKE:
                self.boot_started_at = e.updated_at
        if e.new_status not in (CMLWorkerStatus.PENDING, CMLWorkerStatus.RUNNING):
            self.boot_started_at = None
        if e.new_status == CMLWorkerStatus.SHUTTING_DOWN and e.changed_by:
            self.termination_requested_by = e.changed_by
        self.status = e.new_status

    def _on_CMLServiceStatusUpdatedDomainEvent(self, e: CMLServiceStatusUpdatedDomainEvent) -> None:
        self.service_status = e.new_service_status
        if e.new_service_status == CMLServiceStatus.AVAILABLE and self.boot_started_at:
            boot = (e.updated_at - self.boot_started_at).total_seconds()
            self.last_boot_to_ready_seconds = round(max(boot, 0.0), 1)
            self.boot_started_at = None
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

    def _on_CMLWorkerTelemetryCompactedDomainEvent(
        self, e: CMLWorkerTelemetryCompactedDomainEvent
    ) -> None:
        """The dropped telemetry events' net effect: the newest one's figures, and one version
        per event it stands for (``apply`` adds the last one)."""
        self.last_activity_at = e.last_activity_at
        self.active_labs_count = e.active_labs_count
        self.cpu_utilization = e.cpu_utilization
        self.memory_utilization = e.memory_utilization
        self.last_telemetry_at = e.updated_at
        self.version += e.compacted_events - 1

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

    def _on_CMLWorkerPolicyChangedDomainEvent(self, e: CMLWorkerPolicyChangedDomainEvent) -> None:
        self.policy_idle_minutes = e.idle_minutes
        self.policy_schedule = e.schedule
        self.policy_maintenance_from = e.maintenance_from
        self.policy_maintenance_until = e.maintenance_until

    def _on_CMLWorkerAutoStoppedDomainEvent(self, e: CMLWorkerAutoStoppedDomainEvent) -> None:
        self.last_auto_stop_at = e.stopped_at
        self.last_auto_stop_reason = e.reason

    def _on_CMLWorkerAutoStartedDomainEvent(self, e: CMLWorkerAutoStartedDomainEvent) -> None:
        self.last_auto_start_at = e.started_at
        self.last_auto_start_reason = e.reason
        self.last_auto_start_window = e.window_key

    def _on_CMLWorkerActionRequestedDomainEvent(
        self, e: CMLWorkerActionRequestedDomainEvent
    ) -> None:
        if self.pending_action is not None:
            kept = (*self.earlier_actions, self.pending_action)
            self.earlier_actions = kept[-MAX_EARLIER_ACTIONS:]
        self.pending_action = PendingAction(
            action=e.action,
            request_token=e.request_token,
            requested_by=e.requested_by,
            requested_at=e.requested_at,
            aws_instance_id=e.aws_instance_id,
            target=e.target,
        )

    def _on_CMLWorkerActionCompletedDomainEvent(
        self, e: CMLWorkerActionCompletedDomainEvent
    ) -> None:
        if self.pending_action and self.pending_action.request_token == e.request_token:
            self.pending_action = None
        self.earlier_actions = tuple(
            a for a in self.earlier_actions if a.request_token != e.request_token
        )

    def open_actions(self) -> list[PendingAction]:
        """Every action asked for and not answered, newest first."""
        newest = [self.pending_action] if self.pending_action is not None else []
        return newest + list(reversed(self.earlier_actions))

    def _on_CMLWorkerLabActionDomainEvent(self, e: CMLWorkerLabActionDomainEvent) -> None:
        """A lab action is history only: labs are CML's state, not the worker's."""
