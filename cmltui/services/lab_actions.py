"""The lab actions of ``LabsService``: start, stop, wipe, delete, "stop, wipe and delete",
download, import, and "stop the running labs first" for the worker actions.

Each lab is read fresh before it is acted on (its title for the record, its state for CML's own
rules: wipe needs a stopped lab, delete a stopped and wiped one), so a refusal is explained
before any request CML would refuse. Each mutating call is preceded by a saved intent
(``lab-<action>``, naming the lab) and followed by its outcome and a ``lab-action`` record
(actor, lab id, title, CML's reason on failure). One worker's lab actions run one at a time, so
their intents never supersede each other. Failures name the lab and CML's reason.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from cmltui.cml.errors import CmlError, CmlLabError, CmlLabNotFoundError, CmlLabRefusedError
from cmltui.cml.models import LAB_ACTIONS, LAB_DEFINED_ON_CORE, LAB_STARTED, LAB_STOPPED
from cmltui.domain.plural import plural
from cmltui.domain.worker import CMLWorker
from cmltui.services.lab_files import (
    LabFileError,
    TopologyFile,
    check_download_path,
    read_topology,
    resolve_path,
    title_problem,
    write_topology,
)
from cmltui.services.lab_views import (
    LabHost,
    LabSnapshot,
    lab_label,
    lab_snapshot,
    reachable_problem,
    sorted_labs,
)
from cmltui.services.ports import CmlClient
from cmltui.services.snapshot import ActionResult

T = TypeVar("T")
_PAST = {"start": "started", "stop": "stopped", "wipe": "wiped", "delete": "deleted"}


def _lab_call(client: CmlClient, action: str, lab: LabSnapshot) -> Callable[[], Awaitable[None]]:
    """The client call that does ``action`` (start, stop, wipe, delete) to ``lab``, made later."""
    calls = {
        "start": client.start_lab,
        "stop": client.stop_lab,
        "wipe": client.wipe_lab,
        "delete": client.delete_lab,
    }
    call = calls[action]
    return lambda: call(lab.id, title=lab.title)


class IntentNotSavedError(Exception):
    """The intent could not be saved (the data file): the call was not sent."""


def cml_reason(err: CmlError) -> str:
    """What CML said (its own words when it refused), for a result line and the record."""
    if isinstance(err, CmlLabRefusedError) and err.cml_reason:
        return f"refused by CML (HTTP {err.status_code}): {err.cml_reason}"
    if isinstance(err, CmlLabNotFoundError):
        return "not on the controller (deleted meanwhile?)"
    if isinstance(err, CmlLabError) and err.cml_reason:
        return err.cml_reason
    return err.reason


class LabActions:
    """Mixed into ``LabsService`` (which provides ``host`` and ``_wake``)."""

    host: LabHost
    #: While waiting for a stop or a wipe to complete: how often the state is read, how often.
    state_poll_seconds: float = 2.0
    state_polls: int = 150

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        #: The pause between two state reads (a test passes one that moves its clock).
        self.sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep

    def _wake(self, worker_id: str) -> None:
        raise NotImplementedError

    def _lock(self, worker_id: str) -> asyncio.Lock:
        return self._locks.setdefault(worker_id, asyncio.Lock())

    def _reachable(self, worker_id: str) -> tuple[CMLWorker | None, str | None]:
        worker = self.host.find(worker_id)
        return worker, reachable_problem(worker, worker_id)

    # ------------------------------------------------------------------ building blocks
    async def _read(
        self, client: CmlClient, lab_id: str, refused: list[str], failed: list[str]
    ) -> LabSnapshot | None:
        """The lab now, or None with the reason added to ``refused`` or ``failed``."""
        try:
            return lab_snapshot(await client.lab_details(lab_id))
        except CmlLabNotFoundError:
            refused.append(f"lab {lab_id}: no such lab on the controller")
        except CmlError as err:
            failed.append(f"lab {lab_id}: {cml_reason(err)}")
        return None

    async def _intent(self, worker: CMLWorker, action: str, target: str) -> str:
        tokens = await self.host.record_intents(
            f"lab-{action}", [worker], self.host.user, target=target
        )
        if tokens is None:
            raise IntentNotSavedError(self.host.unsaved_reason())
        return tokens[worker.id]

    async def _outcome(
        self,
        worker: CMLWorker,
        token: str,
        action: str,
        lab: tuple[str | None, str | None],
        outcome: str,
        detail: str | None,
    ) -> None:
        lab_id, title = lab
        if token:
            worker.complete_action(token, outcome, detail)
        worker.record_lab_action(action, lab_id, title, self.host.user, outcome, detail)
        await self.host.settle(worker, token)

    async def _mutate(
        self, worker: CMLWorker, action: str, lab: LabSnapshot, call: Callable[[], Awaitable[T]]
    ) -> T:
        """Intent saved, the call, then its outcome and the lab record saved."""
        label = lab_label(lab.id, lab.title)
        token = await self._intent(worker, action, f'lab {lab.id} "{lab.title}"')
        try:
            result = await call()
        except CmlError as err:
            await self._outcome(
                worker, token, action, (lab.id, lab.title), "failed", cml_reason(err)
            )
            raise
        await self._outcome(worker, token, action, (lab.id, lab.title), "accepted", label)
        return result

    async def _wait_for(
        self, client: CmlClient, lab: LabSnapshot, wanted: frozenset[str]
    ) -> tuple[str, str | None]:
        """(the state, None) once the lab is in one of ``wanted``; else (its state, why not)."""
        state = lab.state
        for poll in range(self.state_polls):
            try:
                state = await client.lab_state(lab.id, title=lab.title)
            except CmlError as err:
                return state, cml_reason(err)
            if state in wanted:
                return state, None
            if poll + 1 < self.state_polls:
                await self.sleep(self.state_poll_seconds)
        waited = self.state_polls * self.state_poll_seconds
        return state, f"still {state} after {waited:.0f} s"

    # ------------------------------------------------------------------ one action
    async def act(self, worker_id: str, action: str, lab_ids: Sequence[str]) -> ActionResult:
        """Start, stop, wipe or delete these labs of one worker, one after the other."""
        if action not in LAB_ACTIONS:
            raise ValueError(f"unknown lab action {action!r}")
        name = f"{action} lab"
        if self.host.is_read_only():
            return ActionResult(name, refused=("read-only mode",))
        worker, problem = self._reachable(worker_id)
        if problem is not None or worker is None:
            return ActionResult(name, refused=(problem or worker_id,))
        done: list[str] = []
        refused: list[str] = []
        failed: list[str] = []
        async with self._lock(worker_id):
            client = self.host.client(worker)
            for lab_id in dict.fromkeys(lab_ids):
                lab = await self._read(client, lab_id, refused, failed)
                if lab is None:
                    continue
                label = lab_label(lab.id, lab.title)
                why = lab.refusal(action)
                if why is not None:
                    refused.append(f"{label}: {why}")
                    continue
                try:
                    await self._mutate(worker, action, lab, _lab_call(client, action, lab))
                except IntentNotSavedError as err:
                    failed.append(f"{label}: not sent, {err}")
                    break
                except CmlError as err:
                    failed.append(f"{label}: {cml_reason(err)}")
                    continue
                done.append(label)
        self._wake(worker_id)
        return ActionResult(name, tuple(done), tuple(refused), tuple(failed))

    async def stop_wipe_delete(self, worker_id: str, lab_ids: Sequence[str]) -> ActionResult:
        """Free labs for good: stop (and wait until stopped), wipe (and wait), delete."""
        name = "stop, wipe and delete lab"
        if self.host.is_read_only():
            return ActionResult(name, refused=("read-only mode",))
        worker, problem = self._reachable(worker_id)
        if problem is not None or worker is None:
            return ActionResult(name, refused=(problem or worker_id,))
        done: list[str] = []
        refused: list[str] = []
        failed: list[str] = []
        async with self._lock(worker_id):
            client = self.host.client(worker)
            for lab_id in dict.fromkeys(lab_ids):
                lab = await self._read(client, lab_id, refused, failed)
                if lab is None:
                    continue
                try:
                    steps = await self._free_lab(worker, client, lab)
                except IntentNotSavedError as err:
                    failed.append(f"{lab_label(lab.id, lab.title)}: not sent, {err}")
                    break
                if isinstance(steps, str):
                    failed.append(f"{lab_label(lab.id, lab.title)}: {steps}")
                    self._wake(worker_id)
                    continue
                done.append(f"{lab_label(lab.id, lab.title)} ({', '.join(steps)})")
        self._wake(worker_id)
        return ActionResult(name, tuple(done), tuple(refused), tuple(failed))

    async def _free_lab(
        self, worker: CMLWorker, client: CmlClient, lab: LabSnapshot
    ) -> list[str] | str:
        """The steps done (``["stopped", "wiped", "deleted"]``), or why it stopped short."""
        steps: list[str] = []
        state = lab.state
        for action, when, until in (
            ("stop", LAB_STARTED, frozenset({LAB_STOPPED, LAB_DEFINED_ON_CORE})),
            ("wipe", LAB_STOPPED, frozenset({LAB_DEFINED_ON_CORE})),
            ("delete", LAB_DEFINED_ON_CORE, frozenset()),
        ):
            if state != when:
                if action == "delete":
                    return f"it is {state}: CML would not delete it"
                continue
            try:
                await self._mutate(worker, action, lab, _lab_call(client, action, lab))
            except CmlError as err:
                after = f" (after it was {' and '.join(steps)})" if steps else ""
                return f"{action} failed{after}: {cml_reason(err)}"
            steps.append(_PAST[action])
            if until:
                state, why = await self._wait_for(client, lab, until)
                if why is not None:
                    return f"{' and '.join(steps)}, but {why}: not deleted"
        return steps

    # ------------------------------------------------------------------ files
    async def check_download(self, path: str | Path, *, overwrite: bool = False) -> Path:
        """Where a download would go, or ``LabFileError`` (``exists`` set when the only
        problem is a file already there)."""
        target = resolve_path(path) if isinstance(path, str) else path
        return await asyncio.to_thread(check_download_path, target, overwrite=overwrite)

    async def download(
        self, worker_id: str, lab_id: str, path: str | Path, *, overwrite: bool = False
    ) -> ActionResult:
        """The lab's topology YAML into a file (created new, unless ``overwrite``)."""
        name = "download lab"
        worker, problem = self._reachable(worker_id)
        if problem is not None or worker is None:
            return ActionResult(name, refused=(problem or worker_id,))
        try:
            target = await self.check_download(path, overwrite=overwrite)
        except LabFileError as err:
            return ActionResult(name, refused=(f"lab {lab_id[:8]}: {err.reason}",))
        refused: list[str] = []
        failed: list[str] = []
        client = self.host.client(worker)
        lab = await self._read(client, lab_id, refused, failed)
        if lab is None:
            return ActionResult(name, refused=tuple(refused), failed=tuple(failed))
        label = lab_label(lab.id, lab.title)
        try:
            text = await client.download_lab_yaml(lab.id, title=lab.title)
            size = await asyncio.to_thread(write_topology, target, text, overwrite=overwrite)
        except (CmlError, LabFileError) as err:
            why = cml_reason(err) if isinstance(err, CmlError) else err.reason
            await self._outcome(worker, "", "download", (lab.id, lab.title), "failed", why)
            return ActionResult(name, failed=(f"{label}: {why}",))
        detail = f"saved to {target}"
        await self._outcome(worker, "", "download", (lab.id, lab.title), "accepted", detail)
        return ActionResult(name, done=(f"{label} to {target} ({size:,} bytes)",))

    async def check_topology_file(self, path: str | Path) -> TopologyFile:
        """The file read, decoded and checked (``LabFileError`` says what is wrong)."""
        target = resolve_path(path) if isinstance(path, str) else path
        return await asyncio.to_thread(read_topology, target)

    async def import_topology(
        self, worker_id: str, topology: TopologyFile | str | Path, title: str | None = None
    ) -> ActionResult:
        """A new lab from a topology file (checked before it is sent), titled ``title`` or
        as the file says."""
        name = "import lab"
        if self.host.is_read_only():
            return ActionResult(name, refused=("read-only mode",))
        worker, problem = self._reachable(worker_id)
        if problem is not None or worker is None:
            return ActionResult(name, refused=(problem or worker_id,))
        title = title.strip() if title else None
        if title and (why := title_problem(title)):
            return ActionResult(name, refused=(f"title {title!r}: {why}",))
        if not isinstance(topology, TopologyFile):
            try:
                topology = await self.check_topology_file(topology)
            except LabFileError as err:
                return ActionResult(name, refused=(err.reason,))
        source = f"from {topology.path}"
        async with self._lock(worker_id):
            client = self.host.client(worker)
            try:
                token = await self._intent(worker, "import", f"file {topology.path}")
            except IntentNotSavedError as err:
                return ActionResult(name, failed=(f"{topology.path}: not sent, {err}",))
            try:
                imported = await client.import_lab_yaml(topology.text, title)
            except CmlError as err:
                why = cml_reason(err)
                shown_title = title or topology.title
                await self._outcome(worker, token, "import", (None, shown_title), "failed", why)
                return ActionResult(name, failed=(f"{topology.path}: {why}",))
            lab_title = title or topology.title
            try:
                lab_title = (await client.lab_details(imported.id)).title
            except CmlError:
                pass  # imported all the same; the next poll shows it
            lab = (imported.id, lab_title)
            await self._outcome(worker, token, "import", lab, "accepted", source)
        self._wake(worker_id)
        warnings = ""
        if imported.warnings:
            count = len(imported.warnings)
            warnings = f"; CML warns ({count}): {' '.join(imported.warnings)}"
        return ActionResult(name, done=(f"{lab_label(imported.id, lab_title)} {source}{warnings}",))

    # ------------------------------------------------------------------ freeing workers
    async def running_labs(
        self, worker_ids: Sequence[str]
    ) -> dict[str, tuple[list[LabSnapshot], str | None]]:
        """Each worker's started labs, or why they could not be listed (one listing each,
        concurrently: the stop and terminate confirmations ask this)."""

        async def one(worker_id: str) -> tuple[list[LabSnapshot], str | None]:
            worker, problem = self._reachable(worker_id)
            if problem is not None or worker is None:
                return [], problem
            try:
                answer = await self.host.client(worker).labs_with_details()
            except CmlError as err:
                return [], err.reason
            labs = sorted_labs(lab_snapshot(details) for details in answer)
            return [lab for lab in labs if lab.is_active], None

        results = await asyncio.gather(*(one(worker_id) for worker_id in worker_ids))
        return dict(zip(worker_ids, results, strict=True))

    async def stop_labs_then(
        self,
        worker_ids: Sequence[str],
        then: Callable[[list[str]], Awaitable[ActionResult]],
        action: str,
    ) -> ActionResult:
        """Stop each worker's running labs and wait until they are stopped, then ``then`` on
        the workers whose labs all stopped; a worker whose labs did not is left alone."""
        results = await asyncio.gather(*(self._stop_running(wid) for wid in worker_ids))
        ready = [wid for wid, (ok, _, _) in zip(worker_ids, results, strict=True) if ok]
        held = tuple(line for ok, _, line in results if not ok)
        notes = {name: line for ok, name, line in results if ok and line}
        result = await then(ready) if ready else ActionResult(action)
        done = tuple(f"{name} ({notes[name]})" if name in notes else name for name in result.done)
        return ActionResult(action, done, (*held, *result.refused), result.failed)

    async def _stop_running(self, worker_id: str) -> tuple[bool, str, str]:
        """(True, name, note) once the worker runs no lab; (False, name, why) otherwise."""
        worker, problem = self._reachable(worker_id)
        if problem is not None or worker is None:
            return True, worker.name if worker else worker_id, ""  # no lab runs there
        started, error = (await self.running_labs([worker_id]))[worker_id]
        if error is not None:
            return False, worker.name, f"{worker.name}: labs not listed ({error}); left as is"
        if not started:
            return True, worker.name, ""
        result = await self.act(worker_id, "stop", [lab.id for lab in started])
        if not result.ok:
            what = "; ".join((*result.refused, *result.failed))
            return False, worker.name, f"{worker.name}: labs not all stopped ({what}); left as is"
        client = self.host.client(worker)
        for lab in started:
            _, why = await self._wait_for(
                client, lab, frozenset({LAB_STOPPED, LAB_DEFINED_ON_CORE})
            )
            if why is not None:
                label = lab_label(lab.id, lab.title)
                return False, worker.name, f"{worker.name}: {label} {why}; left as is"
        count = len(started)
        return True, worker.name, f"{plural(count, 'lab')} stopped first"
