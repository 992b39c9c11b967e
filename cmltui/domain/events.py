"""The CMLWorker domain events (the seed's eight, plus the ones cmltui adds), as CloudEvents 1.0.

A domain event is a frozen pydantic model carrying the seed's fields. ``to_cloudevent`` wraps it
in a CloudEvents 1.0 envelope (``specversion``, ``id``, ``source``, ``type``, ``time``,
``subject`` = worker id, ``data``); ``event_from_cloudevent`` reverses it, so the stored audit
trail can be replayed into the same aggregate state.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from cmltui.domain.enums import CMLServiceStatus, CMLWorkerStatus, LicenseStatus

CLOUDEVENT_SOURCE = "urn:cmltui:worker"


class DomainEvent(BaseModel):
    """Base of every worker event: frozen, and named by a versioned CloudEvents type."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    EVENT_TYPE: ClassVar[str] = ""
    #: Telemetry events are kept by a retention rule; lifecycle events are kept whole.
    IS_TELEMETRY: ClassVar[bool] = False

    aggregate_id: str

    @property
    def occurred_at(self) -> datetime:
        """The event's own time field, whatever the seed named it."""
        for field_name in (
            "updated_at",
            "created_at",
            "assigned_at",
            "terminated_at",
            "stopped_at",
            "started_at",
            "requested_at",
            "completed_at",
        ):
            value = getattr(self, field_name, None)
            if isinstance(value, datetime):
                return value
        raise AttributeError(f"{type(self).__name__} has no time field")


class CMLWorkerCreatedDomainEvent(DomainEvent):
    EVENT_TYPE: ClassVar[str] = "cmltui.worker.created.v1"

    name: str
    aws_region: str
    aws_instance_id: str | None = None
    instance_type: str
    ami_id: str | None = None
    ami_name: str | None = None
    status: CMLWorkerStatus
    cml_version: str | None = None
    created_at: datetime
    created_by: str | None = None


class CMLWorkerStatusUpdatedDomainEvent(DomainEvent):
    EVENT_TYPE: ClassVar[str] = "cmltui.worker.status-updated.v1"

    old_status: CMLWorkerStatus
    new_status: CMLWorkerStatus
    updated_at: datetime
    #: cmltui addition: the OS user whose action caused the change (None = observed in EC2).
    changed_by: str | None = None


class CMLServiceStatusUpdatedDomainEvent(DomainEvent):
    EVENT_TYPE: ClassVar[str] = "cmltui.worker.service-status-updated.v1"

    old_service_status: CMLServiceStatus
    new_service_status: CMLServiceStatus
    https_endpoint: str | None = None
    updated_at: datetime
    #: cmltui addition: the CML version reported with the service state (None = unchanged).
    cml_version: str | None = None


class CMLWorkerInstanceAssignedDomainEvent(DomainEvent):
    EVENT_TYPE: ClassVar[str] = "cmltui.worker.instance-assigned.v1"

    aws_instance_id: str
    public_ip: str | None = None
    private_ip: str | None = None
    assigned_at: datetime


class CMLWorkerLicenseUpdatedDomainEvent(DomainEvent):
    EVENT_TYPE: ClassVar[str] = "cmltui.worker.license-updated.v1"

    license_status: LicenseStatus
    #: Masked to its last four characters: a full licence token never reaches the data file.
    license_token: str | None = None
    updated_at: datetime


class CMLWorkerTelemetryUpdatedDomainEvent(DomainEvent):
    EVENT_TYPE: ClassVar[str] = "cmltui.worker.telemetry-updated.v1"
    IS_TELEMETRY: ClassVar[bool] = True

    last_activity_at: datetime | None = None
    active_labs_count: int = Field(ge=0)
    cpu_utilization: float | None = Field(default=None, ge=0, le=100)
    memory_utilization: float | None = Field(default=None, ge=0, le=100)
    updated_at: datetime


class CMLWorkerTelemetryCompactedDomainEvent(DomainEvent):
    """cmltui addition: the telemetry events retention dropped, compacted into one checkpoint.

    It stands where the newest of them stood in the trail and carries what they set (the
    newest one's figures), so replaying it is the same as replaying all ``compacted_events``
    of them: the replayed state, version included, equals the stored one.
    """

    EVENT_TYPE: ClassVar[str] = "cmltui.worker.telemetry-compacted.v1"

    last_activity_at: datetime | None = None
    active_labs_count: int = Field(ge=0)
    cpu_utilization: float | None = Field(default=None, ge=0, le=100)
    memory_utilization: float | None = Field(default=None, ge=0, le=100)
    #: How many telemetry events this one stands for (earlier checkpoints' included).
    compacted_events: int = Field(ge=1)
    #: When the oldest of them was measured (the newest one's time is ``updated_at``).
    first_measured_at: datetime
    updated_at: datetime


class CMLWorkerEndpointUpdatedDomainEvent(DomainEvent):
    EVENT_TYPE: ClassVar[str] = "cmltui.worker.endpoint-updated.v1"

    https_endpoint: str | None = None
    public_ip: str | None = None
    updated_at: datetime


class CMLWorkerTerminatedDomainEvent(DomainEvent):
    EVENT_TYPE: ClassVar[str] = "cmltui.worker.terminated.v1"

    name: str
    terminated_at: datetime
    terminated_by: str | None = None


class CMLWorkerIdlePolicyUpdatedDomainEvent(DomainEvent):
    """cmltui addition: the operator opted a worker out of (or back into) idle auto-stop."""

    EVENT_TYPE: ClassVar[str] = "cmltui.worker.idle-policy-updated.v1"

    auto_stop_opt_out: bool
    updated_at: datetime
    updated_by: str | None = None


class CMLWorkerPolicyChangedDomainEvent(DomainEvent):
    """cmltui addition: the operator set the worker's own policy; each field is the value now in
    force for the worker (None: cleared, the schedule's or the global one applies)."""

    EVENT_TYPE: ClassVar[str] = "cmltui.worker.policy-changed.v1"

    #: Idle minutes before auto-stop, overriding its schedule's and the global threshold.
    idle_minutes: int | None = Field(default=None, ge=1)
    #: The schedule it follows, overriding its ``cmltui:schedule`` tag.
    schedule: str | None = None
    #: A one-off maintenance window: no automatic stop from ``maintenance_from`` until
    #: ``maintenance_until``.
    maintenance_from: datetime | None = None
    maintenance_until: datetime | None = None
    updated_at: datetime
    updated_by: str | None = None


class CMLWorkerAutoStoppedDomainEvent(DomainEvent):
    """cmltui addition: a policy stopped the worker; the reason says why."""

    EVENT_TYPE: ClassVar[str] = "cmltui.worker.auto-stopped.v1"

    reason: str
    idle_minutes: float
    stopped_at: datetime
    #: Which rule stopped it: "idle" (the idle threshold) or "schedule" (a forced close).
    kind: str = "idle"


class CMLWorkerAutoStartedDomainEvent(DomainEvent):
    """cmltui addition: a schedule started the worker ahead of its window; the reason says why."""

    EVENT_TYPE: ClassVar[str] = "cmltui.worker.auto-started.v1"

    reason: str
    kind: str = "schedule"
    #: The window opening it was started for ("emea-class@2026-03-09T08:00:00+00:00"): one
    #: start per worker per opening, remembered across restarts through this event.
    window_key: str | None = None
    started_at: datetime


class CMLWorkerActionRequestedDomainEvent(DomainEvent):
    """cmltui addition: an action is about to be sent to AWS or CML (intent first).

    Recorded and saved before the call, so an interrupted command still leaves who asked for
    what; ``request_token`` is also RunInstances' ClientToken for a create.
    """

    EVENT_TYPE: ClassVar[str] = "cmltui.worker.action-requested.v1"

    action: str
    request_token: str
    requested_by: str | None = None
    aws_instance_id: str | None = None
    #: What the action acts on inside the worker, when not the worker itself (a lab action:
    #: ``lab <id> "<title>"``; an import: ``file <path>``), so an interrupted one still says.
    target: str | None = None
    requested_at: datetime


class CMLWorkerActionCompletedDomainEvent(DomainEvent):
    """cmltui addition: the outcome of a requested action.

    ``outcome``: ``accepted`` (the call answered yes), ``failed`` (it answered no, or could
    not be sent), ``confirmed`` (the caller died; EC2 or CML later showed it happened) or
    ``not-observed`` (the caller died; nothing showed it happened within the wait).
    """

    EVENT_TYPE: ClassVar[str] = "cmltui.worker.action-completed.v1"

    action: str
    request_token: str
    outcome: str
    detail: str | None = None
    completed_at: datetime


class CMLWorkerLabActionDomainEvent(DomainEvent):
    """cmltui addition: an operator acted on one of the worker's CML labs.

    ``action``: ``start``, ``stop``, ``wipe``, ``delete``, ``download`` or ``import``;
    ``outcome``: ``accepted`` (CML said yes) or ``failed`` (it said no, or did not answer);
    ``detail``: CML's reason for a failure, the file of a download or an import. ``lab_id`` is
    None only for an import CML refused. Changes no state: it is the audit trail's record.
    """

    EVENT_TYPE: ClassVar[str] = "cmltui.worker.lab-action.v1"

    action: str
    lab_id: str | None = None
    lab_title: str | None = None
    requested_by: str | None = None
    outcome: str
    detail: str | None = None
    completed_at: datetime


EVENT_CLASSES: dict[str, type[DomainEvent]] = {
    cls.EVENT_TYPE: cls
    for cls in (
        CMLWorkerCreatedDomainEvent,
        CMLWorkerStatusUpdatedDomainEvent,
        CMLServiceStatusUpdatedDomainEvent,
        CMLWorkerInstanceAssignedDomainEvent,
        CMLWorkerLicenseUpdatedDomainEvent,
        CMLWorkerTelemetryUpdatedDomainEvent,
        CMLWorkerTelemetryCompactedDomainEvent,
        CMLWorkerEndpointUpdatedDomainEvent,
        CMLWorkerTerminatedDomainEvent,
        CMLWorkerIdlePolicyUpdatedDomainEvent,
        CMLWorkerAutoStoppedDomainEvent,
        CMLWorkerAutoStartedDomainEvent,
        CMLWorkerPolicyChangedDomainEvent,
        CMLWorkerActionRequestedDomainEvent,
        CMLWorkerActionCompletedDomainEvent,
        CMLWorkerLabActionDomainEvent,
    )
}


class CloudEvent(BaseModel):
    """A CloudEvents 1.0 envelope (structured mode, JSON data)."""

    model_config = ConfigDict(frozen=True, extra="allow")

    specversion: str = "1.0"
    id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    source: str = CLOUDEVENT_SOURCE
    type: str
    time: datetime
    subject: str
    datacontenttype: str = "application/json"
    data: dict[str, Any]


def to_cloudevent(event: DomainEvent, *, event_id: str | None = None) -> CloudEvent:
    """Wrap a domain event in its CloudEvents envelope."""
    return CloudEvent(
        id=event_id or str(uuid.uuid4()),
        type=event.EVENT_TYPE,
        time=event.occurred_at,
        subject=event.aggregate_id,
        data=event.model_dump(mode="json"),
    )


class UnknownEventTypeError(ValueError):
    """A stored envelope names an event type this version of cmltui does not know."""


def event_from_cloudevent(envelope: CloudEvent | dict[str, Any]) -> DomainEvent:
    """Rebuild the domain event inside an envelope (raises ``UnknownEventTypeError``)."""
    if isinstance(envelope, dict):
        envelope = CloudEvent.model_validate(envelope)
    event_class = EVENT_CLASSES.get(envelope.type)
    if event_class is None:
        raise UnknownEventTypeError(f"unknown event type {envelope.type!r}")
    return event_class.model_validate(envelope.data)
