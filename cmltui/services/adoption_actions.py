"""Bringing instances under management: discovery, import, re-tagging detached workers, the idle
opt-out and the rest of a worker's own policy.

A part of ``FleetController`` (see ``cmltui.services.controller``): it shares the controller's
state through ``ControllerBase``.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence

from cmltui.aws.dto import WORKER_ID_TAG, CMLWorkerInstanceDto
from cmltui.aws.errors import AwsError
from cmltui.domain.enums import CMLWorkerStatus
from cmltui.domain.names import name_key, visible
from cmltui.domain.worker import CMLWorker
from cmltui.domain.worker_policy import PolicyChange, policy_problem
from cmltui.services.controller_base import (
    ControllerBase,
    _without_region,
)
from cmltui.services.discovery import DiscoveredInstance, import_problem
from cmltui.services.reconciler import CopyConflict
from cmltui.services.snapshot import (
    ActionResult,
    SourceHealth,
)

log = logging.getLogger("cmltui.controller")


class AdoptionActionsMixin(ControllerBase):
    async def discover(self) -> list[DiscoveredInstance]:
        """Unmanaged CML-looking instances, and copies of managed ones (same worker id tag).

        Each says whether it can be imported as it stands; a region that fails is shown on the
        status line and in the result's absence, never as "nothing to import".
        """
        found: list[DiscoveredInstance] = []
        results = await asyncio.gather(
            *(self._gateway.discover(r) for r in self.config.regions), return_exceptions=True
        )
        live_keys = self._live_name_keys()
        for region, result in zip(self.config.regions, results, strict=True):
            key = f"{region}/discover"
            if isinstance(result, BaseException):
                if not isinstance(result, AwsError):
                    log.error("discovery in %s failed: %r", region, result)
                self._region_errors[key] = SourceHealth(
                    f"{region} discovery",
                    _without_region(str(result), region)
                    if isinstance(result, AwsError)
                    else f"unexpected error: {type(result).__name__}",
                    self._clock(),
                )
                continue
            self._region_errors.pop(key, None)
            found.extend(
                DiscoveredInstance(dto, problem=import_problem(dto, live_keys, set()))
                for dto in result
            )
        found.extend(await self._fresh_copies(live_keys, {d.aws_instance_id for d in found}))
        bound = {
            w.state.aws_instance_id: w for w in self._workers.values() if w.state.aws_instance_id
        }
        return [self._not_already_managed(d, bound) for d in found]

    async def _fresh_copies(
        self, live_keys: set[str], already: set[str]
    ) -> list[DiscoveredInstance]:
        """Copies seen by the last refresh, as EC2 has them now (one lookup per region): a
        copy terminated since is not offered, and one that lost its managed tag is offered
        once (as the unmanaged instance discovery found)."""
        by_region: dict[str, list[CopyConflict]] = {}
        for conflict in self._reconciler.conflicts():
            if conflict.instance.aws_instance_id not in already:
                by_region.setdefault(conflict.region, []).append(conflict)
        offered: list[DiscoveredInstance] = []
        for region, conflicts in by_region.items():
            ids = [c.instance.aws_instance_id for c in conflicts]
            key = f"{region}/copies/discover"
            try:
                now = {
                    d.aws_instance_id: d
                    for d in (await self._gateway.lookup_instances(region, ids)).instances
                }
            except AwsError as err:
                # Shown in the import dialog (and on the status line), not only logged.
                log.warning("copies in %s not checked: %s", region, err)
                self._region_errors[key] = SourceHealth(
                    f"{region} copy check",
                    f"copies of managed workers not checked: {_without_region(str(err), region)}",
                    self._clock(),
                )
                continue
            self._region_errors.pop(key, None)
            for conflict in conflicts:
                dto = now.get(conflict.instance.aws_instance_id)
                if dto is None or dto.state in (
                    CMLWorkerStatus.TERMINATED,
                    CMLWorkerStatus.SHUTTING_DOWN,
                ):
                    continue
                if dto.worker_id != conflict.worker_id:
                    continue  # re-tagged since: no longer a copy of that worker
                offered.append(
                    DiscoveredInstance(
                        dto,
                        copy_of=conflict.worker_name,
                        problem=import_problem(dto, live_keys, set()),
                    )
                )
        return offered

    @staticmethod
    def _not_already_managed(
        found: DiscoveredInstance, bound: dict[str, CMLWorker]
    ) -> DiscoveredInstance:
        """An instance that already backs a worker (a detached one) is not importable."""
        owner = bound.get(found.aws_instance_id)
        if owner is None:
            return found
        return DiscoveredInstance(
            found.instance,
            copy_of=found.copy_of,
            problem=f"it is the instance of {visible(owner.name)} (detached): re-tag it (T)",
        )

    def discovery_errors(self) -> list[str]:
        """The regions whose last discovery failed, as status-line lines."""
        return [
            f"{h.source}: {h.error}"
            for k, h in sorted(self._region_errors.items())
            if k.endswith("/discover")
        ]

    def _live_name_keys(self) -> set[str]:
        return {name_key(w.name) for w in self._workers.values() if not w.is_terminated}

    async def import_instances(
        self, instances: Sequence[DiscoveredInstance | CMLWorkerInstanceDto]
    ) -> ActionResult:
        """Manage these instances as new workers. Everything is checked before anything is
        tagged: an instance that cannot be imported is refused and left untouched."""
        if self.read_only:
            return ActionResult("import", refused=("read-only mode",))
        done: list[str] = []
        refused: list[str] = []
        failed: list[str] = []
        bound = {w.state.aws_instance_id for w in self._workers.values()}
        live_keys = self._live_name_keys()
        batch_keys: set[str] = set()
        by_region: dict[str, list[CMLWorkerInstanceDto]] = {}
        for entry in instances:
            dto = entry.instance if isinstance(entry, DiscoveredInstance) else entry
            shown = visible(dto.name)
            if dto.aws_instance_id in bound:
                refused.append(f"{shown}: {dto.aws_instance_id} is already managed")
                continue
            problem = import_problem(dto, live_keys, batch_keys)
            if problem is not None:
                refused.append(f"{shown} ({dto.aws_instance_id}): {problem}")
                continue
            batch_keys.add(name_key(dto.name))
            by_region.setdefault(dto.region, []).append(dto)
        for region, dtos in by_region.items():
            # Always a new worker id: a copy's tag names another worker.
            new_ids = {d.aws_instance_id: str(uuid.uuid4()) for d in dtos}
            try:
                worker_id_by_instance = await self._gateway.adopt_instances(
                    region, list(new_ids), new_ids
                )
            except AwsError as err:
                failed.extend(f"{visible(d.name)}: {err}" for d in dtos)
                continue
            for dto in dtos:
                worker_id = (worker_id_by_instance or {}).get(dto.aws_instance_id)
                tags = {**dto.tags, WORKER_ID_TAG: worker_id or new_ids[dto.aws_instance_id]}
                adopted = dto.model_copy(update={"tags": tags})
                worker = self._reconciler.import_instance(adopted, self.user)
                self._reconciler.resolved(dto.aws_instance_id)
                self._touch(worker)
                done.append(worker.name)
        await self._commit()
        self._publish()
        return ActionResult("import", tuple(done), tuple(refused), tuple(failed))

    async def reattach_workers(self, worker_ids: Sequence[str]) -> ActionResult:
        """Put the managed tag and the worker id back on detached workers' own instances."""
        if self.read_only:
            return self._refuse_all("re-tag", worker_ids, "read-only mode")
        workers, refused = self._resolve(worker_ids)
        detached = self._reconciler.detached_ids()
        by_region: dict[str, list[CMLWorker]] = {}
        for worker in workers:
            if worker.id not in detached or not worker.state.aws_instance_id:
                refused.append(f"{visible(worker.name)}: it is not detached")
                continue
            by_region.setdefault(worker.state.aws_region, []).append(worker)
        done: list[str] = []
        failed: list[str] = []
        for region, region_workers in by_region.items():
            ids = {w.state.aws_instance_id or "": w.id for w in region_workers}
            try:
                await self._gateway.adopt_instances(region, list(ids), ids)
            except AwsError as err:
                failed.extend(f"{visible(w.name)}: {err}" for w in region_workers)
                continue
            self._reconciler.reattached({w.id for w in region_workers})
            for worker in region_workers:
                self._touch(worker)
                done.append(worker.name)
        self._publish()
        return ActionResult("re-tag", tuple(done), tuple(refused), tuple(failed))

    async def set_auto_stop_opt_out(self, worker_ids: Sequence[str], opt_out: bool) -> ActionResult:
        action = "opt out of auto-stop" if opt_out else "opt in to auto-stop"
        if self.read_only:
            return self._refuse_all(action, worker_ids, "read-only mode")
        workers, refused = self._resolve(worker_ids)
        done = []
        for worker in workers:
            worker.set_auto_stop_opt_out(opt_out, updated_by=self.user)
            self._touch(worker)
            done.append(worker.name)
        await self._commit()
        self._publish()
        return ActionResult(action, tuple(done), tuple(refused))

    def _unknown_schedule(self, change: PolicyChange) -> str | None:
        """Why the change names a schedule the config does not have, or None."""
        name = change.schedule
        if not isinstance(name, str):
            return None
        known = self.config.schedules.named
        if name.strip() in known:
            return None
        if not known:
            return (
                f"schedule {visible(name)!r} is not in the config: no schedules are configured "
                "(add a [schedules.NAME] table)"
            )
        return (
            f"schedule {visible(name)!r} is not in the config (known: {', '.join(sorted(known))})"
        )

    async def set_policy(self, worker_ids: Sequence[str], change: PolicyChange) -> ActionResult:
        """Set the workers' own policy (idle threshold, schedule, maintenance, auto-stop), each
        change recorded with its actor and saved; refused whole when a value is wrong."""
        action = "policy"
        if self.read_only:
            return self._refuse_all(action, worker_ids, "read-only mode")
        problem = policy_problem(change) or self._unknown_schedule(change)
        if problem:
            return self._refuse_all(action, worker_ids, problem)
        workers, refused = self._resolve(worker_ids)
        done = []
        for worker in workers:
            if worker.is_terminated:
                refused.append(f"{worker.name}: it is terminated")
                continue
            worker.set_policy(change, updated_by=self.user)
            self._touch(worker)
            done.append(worker.name)
        await self._commit()
        self._publish()
        return ActionResult(action, tuple(done), tuple(refused))
