"""Operator actions on CML licensing: register and deregister, intent first.

A part of ``FleetController`` (see ``cmltui.services.controller``): it shares the controller's
state through ``ControllerBase``.
"""

from __future__ import annotations

import logging

from cmltui.cml.errors import CmlError
from cmltui.domain.enums import LicenseStatus
from cmltui.domain.errors import DomainError
from cmltui.domain.worker import CMLWorker
from cmltui.services.controller_base import (
    ControllerBase,
    _mask_in,
)
from cmltui.services.snapshot import (
    ActionResult,
)

log = logging.getLogger("cmltui.controller")


class LicenceActionsMixin(ControllerBase):
    async def register_license(self, worker_id: str, token: str) -> ActionResult:
        if self.read_only:
            return self._refuse_all("register licence", [worker_id], "read-only mode")
        worker = self._workers.get(worker_id)
        if worker is None:
            return ActionResult("register licence", refused=(f"{worker_id}: no such worker",))
        token = token.strip()
        if not token:
            return ActionResult("register licence", refused=(f"{worker.name}: empty token",))
        try:
            worker.check_can_manage_license()
        except DomainError as err:
            return ActionResult("register licence", refused=(str(err),))
        client = self._client(worker)
        intents = await self._record_intents("register-licence", [worker])
        if intents is None:
            return ActionResult(
                "register licence", failed=tuple(self._intent_unsaved({"": [worker]}))
            )
        request = intents[worker.id]
        try:
            result = await client.register_license(token)
        except CmlError as err:
            reason = _mask_in(err.reason, token)
            worker.complete_action(request, "failed", reason)
            await self._settle(worker, request)
            return ActionResult("register licence", failed=(f"{worker.name}: {reason}",))
        if result.outcome == "registered":
            worker.update_license(LicenseStatus.REGISTERED, token)
        elif result.licensing is not None:
            worker.update_license(result.licensing.license_status, token)
        outcome = "accepted" if result.outcome == "registered" else "failed"
        worker.complete_action(request, outcome, _mask_in(result.reason or result.outcome, token))
        self._in_flight.discard(request)
        self._touch(worker)
        await self._commit()
        self._publish()
        if result.outcome == "registered":
            return ActionResult("register licence", done=(worker.name,))
        # CML echoes the token in its failure reason: show only its last characters.
        reason = _mask_in(result.reason or result.outcome, token)
        return ActionResult("register licence", failed=(f"{worker.name}: {reason}",))

    async def deregister_license(self, worker_id: str) -> ActionResult:
        if self.read_only:
            return self._refuse_all("deregister licence", [worker_id], "read-only mode")
        worker = self._workers.get(worker_id)
        if worker is None:
            return ActionResult("deregister licence", refused=(f"{worker_id}: no such worker",))
        try:
            worker.check_can_manage_license()
        except DomainError as err:
            return ActionResult("deregister licence", refused=(str(err),))
        intents = await self._record_intents("deregister-licence", [worker])
        if intents is None:
            failed = tuple(self._intent_unsaved({"": [worker]}))
            return ActionResult("deregister licence", failed=failed)
        request = intents[worker.id]
        try:
            result = await self._client(worker).deregister_license()
        except CmlError as err:
            worker.complete_action(request, "failed", err.reason)
            await self._settle(worker, request)
            return ActionResult("deregister licence", failed=(f"{worker.name}: {err.reason}",))
        if result.outcome in ("deregistered", "local-only", "not-registered"):
            worker.update_license(LicenseStatus.UNREGISTERED)
            worker.complete_action(request, "accepted", result.outcome)
            self._in_flight.discard(request)
            self._touch(worker)
            await self._commit()
            self._publish()
            note = {
                "local-only": " (locally only: Cisco's licensing server was not told)",
                "not-registered": " (it was not registered)",
            }.get(result.outcome, "")
            return ActionResult("deregister licence", done=(worker.name + note,))
        worker.complete_action(request, "failed", result.reason or result.outcome)
        await self._settle(worker, request)
        return ActionResult(
            "deregister licence", failed=(f"{worker.name}: {result.reason or result.outcome}",)
        )

    async def _settle(self, worker: CMLWorker, request_token: str) -> None:
        """Save a worker's outcome once its call has answered."""
        self._in_flight.discard(request_token)
        self._touch(worker)
        await self._commit()
        self._publish()
