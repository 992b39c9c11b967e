"""Smart Licensing of a fake controller: the state machine Cisco's tests observed (cml-api.md §5).

Pure state plus the JSON bodies; the worker calls it under its lock with the current time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cmltui.demo.fake_cml.labs import iso

#: The one licence token the fake accepts; any other token fails registration.
DEMO_LICENSE_TOKEN = "CMLTUI-DEMO-LICENSE-TOKEN-0001"

_FEATURE_ENT = "regid.2019-10.com.cisco.CML_ENT_BASE,1.0_cmltui-demo"
_FEATURE_NODES = "regid.2019-10.com.cisco.CML_NODE_COUNT,1.0_cmltui-demo"
_SSMS = "https://smartreceiver.cisco.com/licservice/license"


def _error(code: int, description: str) -> dict[str, Any]:
    return {"code": code, "description": description}


@dataclass
class TimeInfo:
    succeeded: datetime | None = None
    attempted: datetime | None = None
    scheduled: datetime | None = None
    status: str | None = None
    failure: str | None = None
    success: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "succeeded": iso(self.succeeded),
            "attempted": iso(self.attempted),
            "scheduled": iso(self.scheduled),
            "status": self.status,
            "failure": self.failure,
            "success": self.success,
        }


#: Authorization of an unregistered controller: in evaluation mode, or not (fresh install, or
#: evaluation over). cml-api.md §5.3 lists both after a deregistration.
EVALUATION_AUTHORIZATION = "EVAL"
NO_EVALUATION_AUTHORIZATION = "INIT"


@dataclass
class FakeLicence:
    registration_status: str = "NOT_REGISTERED"
    authorization_status: str = NO_EVALUATION_AUTHORIZATION
    registration_expires: datetime | None = None
    authorization_expires: datetime | None = None
    register_time: TimeInfo = field(default_factory=TimeInfo)
    renew_time: TimeInfo = field(default_factory=TimeInfo)
    auth_renew_time: TimeInfo = field(default_factory=TimeInfo)
    smart_account: str | None = None
    virtual_account: str | None = None
    #: The registration in flight: its token and when it ends.
    pending_token: str | None = None
    pending_until: datetime | None = None

    @classmethod
    def unregistered(cls, *, evaluation: bool) -> FakeLicence:
        """A controller with no registration, in evaluation mode or not."""
        return cls(
            authorization_status=(
                EVALUATION_AUTHORIZATION if evaluation else NO_EVALUATION_AUTHORIZATION
            )
        )

    def set_evaluation(self, evaluation: bool) -> None:
        """Start or end evaluation mode; a registered (or registering) licence is unchanged."""
        if self.registration_status == "NOT_REGISTERED":
            self.authorization_status = (
                EVALUATION_AUTHORIZATION if evaluation else NO_EVALUATION_AUTHORIZATION
            )

    @property
    def is_licensed(self) -> bool:
        return (
            self.registration_status == "COMPLETED" and self.authorization_status == "IN_COMPLIANCE"
        )

    def complete_registration(self, attempted: datetime, now: datetime) -> None:
        self.registration_status = "COMPLETED"
        self.authorization_status = "IN_COMPLIANCE"
        self.registration_expires = now + timedelta(days=365)
        self.authorization_expires = now + timedelta(days=90)
        self.smart_account = "cmltui-demo"
        self.virtual_account = "Labs"
        self.register_time = TimeInfo(succeeded=now, attempted=attempted, success="SUCCESS")
        self.renew_time = TimeInfo(scheduled=now + timedelta(days=180))
        self.auth_renew_time = TimeInfo(
            succeeded=now,
            attempted=now,
            scheduled=now + timedelta(days=30),
            status="SUCCEEDED",
            success="SUCCESS",
        )

    def settle(self, now: datetime, *, never_completes: bool) -> None:
        """End a registration in flight once its time has come."""
        if self.registration_status != "IN_PROGRESS" or self.pending_until is None:
            return
        if never_completes or now < self.pending_until:
            return
        token, attempted = self.pending_token or "", self.register_time.attempted or now
        self.pending_token = self.pending_until = None
        if token == DEMO_LICENSE_TOKEN:
            self.complete_registration(attempted, now)
            return
        self.registration_status = "FAILED"
        self.authorization_status = "EVAL"
        self.register_time = TimeInfo(
            attempted=attempted,
            failure=f"Failed to register: the product registration token '{token}' is not valid.",
            success="FAILED",
            status="NOT STARTED",
        )

    def register(self, body: Any, now: datetime, duration_seconds: float) -> tuple[int, Any]:
        if (
            not isinstance(body, dict)
            or not isinstance(body.get("token"), str)
            or not body["token"]
        ):
            return 400, _error(400, "Invalid input: 'token' must be a non-empty string")
        reregister = body.get("reregister", False)
        if not isinstance(reregister, bool):
            return 400, _error(400, "Invalid input: 'reregister' must be a boolean")
        if self.registration_status == "IN_PROGRESS" or (
            self.registration_status == "COMPLETED" and not reregister
        ):
            why = (
                "a registration is in progress"
                if self.registration_status == "IN_PROGRESS"
                else "the product is already registered"
            )
            return 409, _error(409, f"Registration cannot be requested at this time: {why}")
        self.registration_status = "IN_PROGRESS"
        self.pending_token = body["token"]
        self.pending_until = now + timedelta(seconds=duration_seconds)
        self.register_time = TimeInfo(attempted=now)
        return 204, None

    def as_json(self, hostname: str, product_uuid: str) -> dict[str, Any]:
        licensed = self.is_licensed
        status = "IN_COMPLIANCE" if licensed else "INIT"
        return {
            "udi": {"hostname": hostname, "product_uuid": product_uuid},
            "registration": {
                "status": self.registration_status,
                "smart_account": self.smart_account,
                "virtual_account": self.virtual_account,
                "expires": iso(self.registration_expires),
                "register_time": self.register_time.as_json(),
                "renew_time": self.renew_time.as_json(),
            },
            "authorization": {
                "status": self.authorization_status,
                "expires": iso(self.authorization_expires),
                "renew_time": self.auth_renew_time.as_json(),
            },
            "reservation_mode": False,
            "features": [
                {
                    "id": _FEATURE_ENT,
                    "name": "CML - Enterprise License",
                    "description": "Cisco Modeling Labs - Enterprise License with 20 nodes "
                    "capacity included",
                    "version": "1.0",
                    "in_use": 1 if licensed else 0,
                    "status": status,
                    "min": 0,
                    "max": 1,
                    "minEndDate": None,
                    "maxEndDate": None,
                },
                {
                    "id": _FEATURE_NODES,
                    "name": "CML – Expansion Nodes",
                    "description": "Cisco Modeling Labs - Expansion Nodes",
                    "version": "1.0",
                    "in_use": 0,
                    "status": status,
                    "min": 0,
                    "max": 300,
                    "minEndDate": None,
                    "maxEndDate": None,
                },
            ],
            "product_license": {"active": "CML_Enterprise", "is_enterprise": True},
            "transport": {
                "ssms": _SSMS,
                "proxy": {"server": None, "port": None},
                "default_ssms": _SSMS,
            },
        }
