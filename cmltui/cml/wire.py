"""Parsing CML JSON bodies into cmltui's models; a body of the wrong shape is a typed error.

Lenient where CML varies between versions (missing keys, timestamp formats, ``udi`` as a
string or an object), strict where a wrong type would mean garbage on screen.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from cmltui.cml.errors import CmlBadResponseError
from cmltui.cml.models import (
    SUPPORTED_CML_VERSIONS,
    CmlLab,
    CmlLicensing,
    CmlSystemInfo,
    CmlSystemStats,
)
from cmltui.cml.status_map import license_status_for

_VERSION_RE = re.compile(r"^(\d+)\.(\d+)\.(\d+)")
_MAX_REASON = 160


class _Raw(BaseModel):
    model_config = ConfigDict(extra="ignore")


def _validated(model: type[Any] | TypeAdapter[Any], data: Any, what: str) -> Any:
    try:
        if isinstance(model, TypeAdapter):
            return model.validate_python(data)
        return model.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise CmlBadResponseError(f"{what}: unexpected shape at {where}") from None


def shorten(text: str, limit: int = _MAX_REASON) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def error_reason(response: httpx.Response) -> str:
    """The ``description`` of a CML error body (stringified when not a string), else the
    HTTP reason phrase (nginx answers with HTML)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("description") is not None:
        description = body["description"]
        text = description if isinstance(description, str) else json.dumps(description)
        return shorten(text)
    return response.reason_phrase or f"HTTP {response.status_code}"


def parse_timestamp(value: Any) -> datetime | None:
    """ISO 8601 with or without fraction, ``Z``, offset or a space; naive means UTC."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


# ---------------------------------------------------------------- authentication
def parse_token(data: Any) -> str:
    if not isinstance(data, str) or data.count(".") != 2:
        raise CmlBadResponseError("login: the answer is not a JWT string")
    return data


def token_times(token: str) -> tuple[float | None, float | None]:
    """``(iat, exp)`` from a JWT payload (base64url, signature not checked); None if absent."""
    try:
        payload_part = token.split(".")[1]
        payload = json.loads(
            base64.urlsafe_b64decode(payload_part + "=" * (-len(payload_part) % 4))
        )
    except (IndexError, ValueError):
        return None, None
    if not isinstance(payload, dict):
        return None, None

    def number(key: str) -> float | None:
        value = payload.get(key)
        return (
            float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
        )

    return number("iat"), number("exp")


# ---------------------------------------------------------------- system
class _SystemInfo(_Raw):
    version: str
    ready: bool


def version_is_supported(version: str) -> bool:
    match = _VERSION_RE.match(version)
    if match is None:
        return False
    major_minor = (int(match.group(1)), int(match.group(2)))
    return SUPPORTED_CML_VERSIONS[0] <= major_minor <= SUPPORTED_CML_VERSIONS[1]


def parse_system_info(data: Any) -> CmlSystemInfo:
    raw = _validated(_SystemInfo, data, "system_information")
    return CmlSystemInfo(
        version=raw.version, ready=raw.ready, version_supported=version_is_supported(raw.version)
    )


class _CpuTotals(_Raw):
    #: The 2.9 schema bounds it to 0-100; anything else is a wrong answer, not a reading.
    percent: float | None = Field(default=None, ge=0, le=100)


class _Usage(_Raw):
    total: float | None = Field(default=None, ge=0)
    used: float | None = Field(default=None, ge=0)


class _AllTotals(_Raw):
    cpu: _CpuTotals | None = None
    memory: _Usage | None = None
    disk: _Usage | None = None


class _DomInfo(_Raw):
    running_nodes: int | None = None


class _ComputeStats(_Raw):
    dominfo: _DomInfo | None = None


class _Compute(_Raw):
    stats: _ComputeStats | None = None


class _SystemStats(_Raw):
    computes: dict[str, _Compute] | None = None
    all_totals: _AllTotals | None = Field(default=None, alias="all")


def _as_int(value: float | None) -> int | None:
    return None if value is None else int(value)


def parse_system_stats(data: Any) -> CmlSystemStats:
    """``all.cpu.percent``, ``all.memory``, ``all.disk`` and the sum of running nodes;
    a value the controller does not send stays None (unknown), never 0."""
    raw = _validated(_SystemStats, data, "system_stats")
    totals = raw.all_totals or _AllTotals()
    memory = totals.memory or _Usage()
    disk = totals.disk or _Usage()
    running = [
        compute.stats.dominfo.running_nodes
        for compute in (raw.computes or {}).values()
        if compute.stats
        and compute.stats.dominfo
        and compute.stats.dominfo.running_nodes is not None
    ]
    try:
        return CmlSystemStats(
            cpu_percent=totals.cpu.percent if totals.cpu else None,
            memory_used_bytes=_as_int(memory.used),
            memory_total_bytes=_as_int(memory.total),
            disk_used_bytes=_as_int(disk.used),
            disk_total_bytes=_as_int(disk.total),
            running_nodes=sum(running) if running else None,
        )
    except (ValidationError, OverflowError, ValueError):
        raise CmlBadResponseError("system_stats: values out of range") from None


# ---------------------------------------------------------------- labs
_LAB_IDS = TypeAdapter(list[str])


class _Lab(_Raw):
    id: str | None = None
    lab_title: str | None = None
    state: str
    owner_username: str | None = None
    node_count: int | None = None


def parse_lab_ids(data: Any) -> list[str]:
    return _validated(_LAB_IDS, data, "labs")


def parse_lab(data: Any, lab_id: str) -> CmlLab:
    raw = _validated(_Lab, data, f"lab {lab_id}")
    return CmlLab(
        id=raw.id or lab_id,
        title=raw.lab_title or "",
        state=raw.state,
        owner_username=raw.owner_username,
        node_count=raw.node_count,
    )


# ---------------------------------------------------------------- licensing
class _TimeInfo(_Raw):
    failure: Any = None


class _Registration(_Raw):
    status: str | None = None
    expires: Any = None
    register_time: _TimeInfo | None = None


class _Authorization(_Raw):
    status: str | None = None
    expires: Any = None


class _ProductLicense(_Raw):
    active: str | None = None


class _Licensing(_Raw):
    udi: str | dict[str, Any] | None = None
    registration: _Registration | None = None
    authorization: _Authorization | None = None
    product_license: _ProductLicense | str | None = None


def parse_licensing(data: Any) -> CmlLicensing:
    raw = _validated(_Licensing, data, "licensing")
    registration = raw.registration or _Registration()
    authorization = raw.authorization or _Authorization()
    failure = registration.register_time.failure if registration.register_time else None
    if failure is not None and not isinstance(failure, str):
        failure = json.dumps(failure)
    product = raw.product_license
    return CmlLicensing(
        registration_status=registration.status,
        authorization_status=authorization.status,
        registration_expires=parse_timestamp(registration.expires),
        authorization_expires=parse_timestamp(authorization.expires),
        failure_reason=shorten(failure) if failure else None,
        product_license=product.active if isinstance(product, _ProductLicense) else product,
        license_status=license_status_for(registration.status, authorization.status),
    )


# ---------------------------------------------------------------- telemetry
class _Event(_Raw):
    category: str
    timestamp: str
    data: dict[str, Any] | None = None


_EVENTS = TypeAdapter(list[_Event])


@dataclass(frozen=True)
class TelemetryEvent:
    category: str
    timestamp: datetime
    user_id: str | None
    #: Stable id of the event (several events can share one timestamp).
    fingerprint: str
    #: The lab a lab event is about, when the event names it.
    lab_id: str | None = None


def parse_events(data: Any) -> list[TelemetryEvent]:
    """Every event with a readable timestamp; events whose timestamp cannot be read are
    skipped (one odd event must not hide the others)."""
    raw_events = _validated(_EVENTS, data, "telemetry/events")
    events: list[TelemetryEvent] = []
    for raw in raw_events:
        when = parse_timestamp(raw.timestamp)
        if when is None:
            continue
        user_id = (raw.data or {}).get("user_id")
        lab_id = (raw.data or {}).get("lab_id")
        canonical = json.dumps(
            {"category": raw.category, "timestamp": raw.timestamp, "data": raw.data},
            sort_keys=True,
            default=str,
        )
        events.append(
            TelemetryEvent(
                category=raw.category,
                timestamp=when,
                user_id=user_id if isinstance(user_id, str) else None,
                fingerprint=hashlib.sha256(canonical.encode()).hexdigest()[:20],
                lab_id=lab_id if isinstance(lab_id, str) else None,
            )
        )
    return events
