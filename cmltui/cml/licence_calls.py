"""The licence calls of ``CmlApiClient``: read the licensing state, register a Smart Licensing
token (then poll until it settles) and deregister."""

from __future__ import annotations

import asyncio

from cmltui.cml.errors import CmlAuthError, CmlError
from cmltui.cml.models import CmlLicensing, LicenseDeregistrationResult, LicenseRegistrationResult
from cmltui.cml.transport import CallsTransport, decode_json, raise_for_status, typed_errors
from cmltui.cml.wire import error_reason, parse_licensing
from cmltui.config import CmlConfig


class LicenceCalls(CallsTransport):
    """Mixed into ``CmlApiClient``, whose transport and settings it uses."""

    _settings: CmlConfig
    # Set when a ``license_info`` telemetry event arrives (``new_activity_events``).
    _licence_event_seen: bool

    @property
    def licence_may_have_changed(self) -> bool:
        """True when a ``license_info`` telemetry event arrived since the last licence read."""
        return self._licence_event_seen

    @typed_errors
    async def licensing(self) -> CmlLicensing:
        response = await self._call("GET", "licensing", what="licensing")
        raise_for_status(response, "licensing")
        licensing = parse_licensing(decode_json(response, "licensing"))
        self._licence_event_seen = False
        return licensing

    @typed_errors
    async def register_license(
        self, token: str, *, reregister: bool = False
    ) -> LicenseRegistrationResult:
        """POST the token, then poll ``licensing`` until it is registered, failed, or the
        configured time limit passes. 400/409 from the POST are a failure with CML's reason."""
        what = "licence registration"
        response = await self._call(
            "POST",
            "licensing/registration",
            what=what,
            json_body={"token": token, "reregister": reregister},
        )
        if response.status_code in (400, 409):
            return LicenseRegistrationResult(outcome="failed", reason=error_reason(response))
        raise_for_status(response, what)
        return await self._wait_for_registration()

    async def _wait_for_registration(self) -> LicenseRegistrationResult:
        limit = self._settings.license_timeout_seconds
        latest: CmlLicensing | None = None
        last_error: str | None = None
        try:
            async with asyncio.timeout(limit):
                while True:
                    await asyncio.sleep(self._settings.license_poll_seconds)
                    try:
                        latest = await self.licensing()
                    except CmlAuthError:
                        raise
                    except CmlError as err:  # a transient failure while polling: keep polling
                        last_error = err.reason
                        continue
                    registration = (latest.registration_status or "").upper()
                    authorization = (latest.authorization_status or "").upper()
                    if registration == "COMPLETED" and authorization in (
                        "IN_COMPLIANCE",
                        "AUTHORIZED",
                    ):
                        return LicenseRegistrationResult(outcome="registered", licensing=latest)
                    if registration in ("FAILED", "RETRY_IN_PROGRESS"):
                        return LicenseRegistrationResult(
                            outcome="failed",
                            licensing=latest,
                            reason=latest.failure_reason or f"registration {registration}",
                        )
                    last_error = None
        except TimeoutError:
            state = latest.registration_status if latest else "unknown"
            reason = last_error or f"still {state} after {limit:g} s"
            return LicenseRegistrationResult(outcome="timeout", licensing=latest, reason=reason)

    @typed_errors
    async def deregister_license(self) -> LicenseDeregistrationResult:
        """204 deregistered; 202 deregistered locally only; 400 was not registered; 409 busy."""
        what = "licence deregistration"
        response = await self._call("DELETE", "licensing/deregistration", what=what)
        code = response.status_code
        if code == 202:
            return LicenseDeregistrationResult(
                outcome="local-only",
                status_code=code,
                reason="deregistered locally; the licensing server was not told",
            )
        if code == 400:
            return LicenseDeregistrationResult(
                outcome="not-registered", status_code=code, reason=error_reason(response)
            )
        if code == 409:
            return LicenseDeregistrationResult(
                outcome="busy", status_code=code, reason=error_reason(response)
            )
        raise_for_status(response, what)
        return LicenseDeregistrationResult(outcome="deregistered", status_code=code)
