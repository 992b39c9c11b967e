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
