"""Operator actions on EC2: start, stop, terminate, create; each recorded as an intent (saved)
before its call.

A part of ``FleetController`` (see ``cmltui.services.controller``): it shares the controller's
state through ``ControllerBase``.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from functools import partial

from cmltui.aws.errors import AwsError
from cmltui.domain.enums import CMLWorkerStatus
from cmltui.domain.errors import DomainError
from cmltui.domain.names import name_key, name_problem, normalize_name, visible
from cmltui.domain.worker import CMLWorker
from cmltui.services.controller_base import (
    ControllerBase,
)
from cmltui.services.outcomes import settle_accepted
from cmltui.services.snapshot import (
    ActionResult,
)

log = logging.getLogger("cmltui.controller")


class LifecycleActionsMixin(ControllerBase):
    def _resolve(self, worker_ids: Sequence[str]) -> tuple[list[CMLWorker], list[str]]:
        """The workers named, each once (a repeated id is one target), and the unknown ids."""
        found: list[CMLWorker] = []
        missing: list[str] = []
        for worker_id in dict.fromkeys(worker_ids):
            worker = self._workers.get(worker_id)
            if worker is None:
                missing.append(f"{worker_id}: no such worker")
            else:
                found.append(worker)
        return found, missing

    def _refuse_all(self, action: str, worker_ids: Sequence[str], reason: str) -> ActionResult:
        names = [self._workers[i].name if i in self._workers else i for i in worker_ids]
        return ActionResult(action, refused=tuple(f"{n}: {reason}" for n in names) or (reason,))

    async def _lifecycle_action(
        self,
        action: str,
        worker_ids: Sequence[str],
        check: Callable[[CMLWorker], None],
        call: Callable[[str, list[str]], Awaitable[None]],
        mark: Callable[[CMLWorker], object],
    ) -> ActionResult:
        if self.read_only:
            return self._refuse_all(action, worker_ids, "read-only mode")
        workers, refused = self._resolve(worker_ids)
        allowed: dict[str, list[CMLWorker]] = {}
        for worker in workers:
            try:
                check(worker)
            except DomainError as err:
                refused.append(str(err))
                continue
            if not worker.state.aws_instance_id:
                refused.append(f"{worker.name}: no EC2 instance yet")
                continue
            allowed.setdefault(worker.state.aws_region, []).append(worker)
        done: list[str] = []
        failed: list[str] = []
        tokens = await self._record_intents(action, [w for ws in allowed.values() for w in ws])
        if tokens is None:
            return ActionResult(action, (), tuple(refused), tuple(self._intent_unsaved(allowed)))
        try:
            for region, region_workers in allowed.items():
                await self._send_lifecycle(region, region_workers, call, mark, tokens, done, failed)
        finally:
            self._in_flight.difference_update(tokens.values())
        await self._commit()
        self._publish()
        return ActionResult(action, tuple(done), tuple(refused), tuple(failed))

    async def _send_lifecycle(
        self,
        region: str,
        region_workers: list[CMLWorker],
        call: Callable[[str, list[str]], Awaitable[None]],
        mark: Callable[[CMLWorker], object],
        tokens: dict[str, str],
        done: list[str],
        failed: list[str],
    ) -> None:
        """One AWS call for a region's share of an action, then each worker's outcome."""
        instance_ids = [w.state.aws_instance_id or "" for w in region_workers]
        try:
            await call(region, instance_ids)
        except AwsError as err:
            for worker in region_workers:
                worker.complete_action(tokens[worker.id], "failed", str(err))
                self._touch(worker)
            failed.extend(f"{visible(w.name)}: {err}" for w in region_workers)
            return
        for worker in region_workers:
            settle_accepted(worker, tokens[worker.id], partial(mark, worker))
            self._touch(worker)
            done.append(worker.name)

    async def _record_intents(
        self,
        action: str,
        workers: Sequence[CMLWorker],
        actor: str | None = None,
        *,
        target: str | None = None,
    ) -> dict[str, str] | None:
        """Record and save each worker's intent before any call goes out (intent first).

        Returns worker id -> request token, or None when the intents could not be saved: then
        no call may go out, since an interrupted call would leave no trace of who asked.
        """
        tokens: dict[str, str] = {}
        for worker in workers:
            token = uuid.uuid4().hex
            worker.request_action(action, actor or self.user, token, target=target)
            tokens[worker.id] = token
            self._in_flight.add(token)
            self._touch(worker)
        if not workers:
            return tokens
        await self._commit()
        if "store" in self._region_errors:
            for worker in workers:
                worker.complete_action(tokens[worker.id], "failed", "the intent was not saved")
            self._in_flight.difference_update(tokens.values())
            return None
        self.intents_saved += len(workers)
        return tokens

    def _intent_unsaved(self, allowed: dict[str, list[CMLWorker]]) -> list[str]:
        error = self._region_errors.get("store")
        reason = error.error if error else "the data file could not be written"
        return [
            f"{visible(w.name)}: not sent, {reason}"
            for workers in allowed.values()
            for w in workers
        ]

    async def start_workers(self, worker_ids: Sequence[str]) -> ActionResult:
        return await self._lifecycle_action(
            "start",
            worker_ids,
            lambda w: w.check_can_start(),
            self._gateway.start_instances,
            lambda w: w.mark_starting(self.user),
        )

    async def stop_workers(self, worker_ids: Sequence[str]) -> ActionResult:
        return await self._lifecycle_action(
            "stop",
            worker_ids,
            lambda w: w.check_can_stop(),
            self._gateway.stop_instances,
            lambda w: w.mark_stopping(self.user),
        )

    async def terminate_workers(self, worker_ids: Sequence[str]) -> ActionResult:
        if self.read_only:
            return self._refuse_all("terminate", worker_ids, "read-only mode")
        # A worker whose instance never came to be is simply marked terminated.
        orphans = [
            self._workers[i]
            for i in worker_ids
            if i in self._workers
            and not self._workers[i].state.aws_instance_id
            and not self._workers[i].is_terminated
            # A create still in flight may yet make an instance: not an orphan (refused
            # below as "no EC2 instance yet"), or its instance would run with no worker.
            and not any(a.action == "create" for a in self._workers[i].state.open_actions())
        ]
        for worker in orphans:
            worker.terminate(self.user)
            self._touch(worker)
        rest = [i for i in worker_ids if i not in {w.id for w in orphans}]
        result = await self._lifecycle_action(
            "terminate",
            rest,
            lambda w: w.check_can_terminate(),
            self._gateway.terminate_instances,
            lambda w: w.mark_shutting_down(self.user),
        )
        for worker in orphans:
            await self._cml_pool.forget(worker.id)
        return ActionResult(
            "terminate", tuple(w.name for w in orphans) + result.done, result.refused, result.failed
        )

    async def create_worker(
        self, name: str, region: str, instance_type: str | None = None
    ) -> ActionResult:
        if self.read_only:
            return ActionResult("create", refused=(f"{name}: read-only mode",))
        name = normalize_name(name)
        problem = self.name_problem(name)
        if problem is not None:
            return ActionResult("create", refused=(f"{visible(name) or '(blank)'}: {problem}",))
        if region not in self.config.regions:
            return ActionResult("create", refused=(f"{name}: region {region} is not configured",))
        worker_id = str(uuid.uuid4())
        instance_type = instance_type or self.config.cml_worker_instance_type
        try:
            ami_id, ami_name = await self._gateway.resolve_image(region)
        except AwsError as err:
            return ActionResult("create", failed=(f"{name}: {err}",))
        worker = CMLWorker(
            name=name,
            aws_region=region,
            instance_type=instance_type,
            ami_id=ami_id,
            ami_name=ami_name,
            created_by=self.user,
            status=CMLWorkerStatus.PENDING,
            worker_id=worker_id,
            clock=self._clock,
        )
        self._workers[worker.id] = worker
        # Intent first: the worker and who asked for it are saved before RunInstances, whose
        # ClientToken is this token, so an interrupted create is found and attributed later.
        token = f"cmltui-{worker_id}"[:64]
        worker.request_action("create", self.user, token)
        self._touch(worker)
        await self._commit()
        if "store" in self._region_errors:
            del self._workers[worker.id]
            self._pending_ids.discard(worker.id)
            reason = self._region_errors["store"].error
            return ActionResult("create", failed=(f"{name}: not sent, {reason}",))
        self.intents_saved += 1
        self._in_flight.add(token)
        try:
            dto = await self._gateway.create_instance(
                region, worker_id, name, instance_type, image=(ami_id, ami_name)
            )
        except AwsError as err:
            self._in_flight.discard(token)
            worker.complete_action(token, "failed", str(err))
            await self._forget(worker)
            return ActionResult("create", failed=(f"{name}: {err}",))
        self._in_flight.discard(token)
        worker.complete_action(token, "accepted")
        worker.assign_instance(dto.aws_instance_id, dto.public_ip, dto.private_ip)
        self._touch(worker)
        await self._commit()
        self._publish()
        return ActionResult("create", done=(name,))

    def name_problem(self, name: str) -> str | None:
        """Why ``name`` cannot name a new worker (unsafe characters, a live worker's name)."""
        name = normalize_name(name)
        problem = name_problem(name)
        if problem is None and name_key(name) in self._live_name_keys():
            problem = "a live worker already has this name"
        return problem

    def in_flight_report(self) -> list[str]:
        """What an interrupted command leaves: each action whose call went out (or was about
        to) without an answer yet. Its intent is saved, so the next refresh completes it."""
        lines = []
        for worker in self._workers.values():
            pending = worker.state.pending_action
            if pending is None or pending.request_token not in self._in_flight:
                continue
            target = pending.aws_instance_id or "no instance yet"
            lines.append(
                f"{pending.action} {visible(worker.name)} ({target}): sent, answer unknown; "
                f"recorded as asked by {pending.requested_by}, the next refresh shows the outcome"
            )
        return sorted(lines)
