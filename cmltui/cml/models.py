"""Results of CML API calls, as pydantic models the rest of cmltui can rely on."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from cmltui.domain.enums import LicenseStatus

#: CML controller versions cmltui is built for; others are shown, not refused.
SUPPORTED_CML_VERSIONS = ((2, 5), (2, 9))


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class CmlSystemInfo(_Model):
    version: str
    ready: bool
    #: False when the version is outside 2.5-2.9 (shown, not fatal).
    version_supported: bool = True


class CmlSystemStats(_Model):
    cpu_percent: float | None = None
    memory_used_bytes: int | None = None
    memory_total_bytes: int | None = None
    disk_used_bytes: int | None = None
    disk_total_bytes: int | None = None
    running_nodes: int | None = None

    @property
    def memory_percent(self) -> float | None:
        if not self.memory_total_bytes or self.memory_used_bytes is None:
            return None
        return min(max(100.0 * self.memory_used_bytes / self.memory_total_bytes, 0.0), 100.0)


class CmlLab(_Model):
    id: str
    title: str = ""
    state: str = "DEFINED_ON_CORE"
    owner_username: str | None = None
    node_count: int | None = None

    @property
    def is_active(self) -> bool:
        return self.state == "STARTED"


#: Lab states of CML 2.9 (``States``): start, stop and wipe move a lab along them.
LAB_DEFINED_ON_CORE = "DEFINED_ON_CORE"
LAB_STOPPED = "STOPPED"
LAB_STARTED = "STARTED"
#: The lab actions, in the order an operator frees a worker.
LAB_ACTIONS = ("start", "stop", "wipe", "delete")
#: Node states that mean a running VM (QUEUED waits for resources; DISCONNECTED lost its host).
RUNNING_NODE_STATES = frozenset({"STARTED", "BOOTED"})


def lab_action_refusal(state: str, action: str) -> str | None:
    """Why CML would refuse ``action`` on a lab in ``state`` by its own rules (wipe needs a
    stopped lab; delete needs a stopped and wiped one), or None. Start and stop are never
    refused for the lab's state (starting a started lab changes nothing)."""
    if action == "wipe" and state not in (LAB_STOPPED, LAB_DEFINED_ON_CORE):
        return "wipe needs a stopped lab: stop it first"
    if action == "delete" and state != LAB_DEFINED_ON_CORE:
        first = "wipe it" if state == LAB_STOPPED else "stop and wipe it"
        return f"delete needs a stopped and wiped lab: {first} first"
    return None


class CmlLabDetails(_Model):
    """One lab as the labs screen shows it (``labs/{id}``, plus node states when it runs)."""

    id: str
    title: str = ""
    state: str
    description: str = ""
    owner_id: str | None = None
    owner_username: str | None = None
    owner_fullname: str | None = None
    #: Nodes in the lab (``node_count``), and how many of them run (STARTED or BOOTED);
    #: None when the controller did not say.
    node_count: int | None = None
    running_nodes: int | None = None
    link_count: int | None = None
    created: datetime | None = None
    modified: datetime | None = None
    effective_permissions: tuple[str, ...] = ()

    @property
    def is_active(self) -> bool:
        return self.state == LAB_STARTED

    def refusal(self, action: str) -> str | None:
        """Why CML would refuse ``action`` on this lab now (see ``lab_action_refusal``)."""
        return lab_action_refusal(self.state, action)


class CmlImportedLab(_Model):
    """What ``POST import`` answered: the new lab's id and CML's warnings (Markdown)."""

    id: str
    warnings: tuple[str, ...] = ()


class CmlLicensing(_Model):
    registration_status: str | None = None
    authorization_status: str | None = None
    registration_expires: datetime | None = None
    authorization_expires: datetime | None = None
    failure_reason: str | None = None
    product_license: str | None = None
    #: Mapped once, in ``cmltui.cml.status_map``.
    license_status: LicenseStatus = LicenseStatus.UNREGISTERED


class CmlActivityEvent(_Model):
    category: str
    timestamp: datetime
    user_id: str | None = None


class LicenseRegistrationResult(_Model):
    """Where a registration ended: success, failure (with the CML reason) or timeout."""

    outcome: str  # "registered" | "failed" | "timeout"
    licensing: CmlLicensing | None = None
    reason: str | None = None


class LicenseDeregistrationResult(_Model):
    """204 = done; 202 = done locally only (SSMS not told); 400 = was not registered."""

    outcome: str  # "deregistered" | "local-only" | "not-registered" | "busy"
    status_code: int
    reason: str | None = None


class ActivityCursor(_Model):
    """Where ``new_activity_events`` stopped: the newest event time seen, and fingerprints of
    the events at exactly that time (several events can share one timestamp).

    JSON-serialisable (``model_dump(mode="json")``) so the controller can persist it.
    """

    newest: datetime | None = None
    fingerprints_at_newest: tuple[str, ...] = ()
