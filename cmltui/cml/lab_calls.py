"""The lab calls of ``CmlApiClient``: what the labs screen and the lab commands ask of one
controller. None of them is part of the fleet's regular cycle (``labs``), so a closed labs
screen costs no request.

Paths and methods are virl2-client's (``models/lab.py`` ``Lab._URL_TEMPLATES``, ``Lab.start``,
``stop``, ``wipe``, ``remove``, ``download``; ``virl2_client.py`` ``_create_imported_lab``):
``PUT labs/{id}/start|stop|wipe``, ``DELETE labs/{id}``, ``GET labs/{id}/download``, ``POST
import?title=`` with the YAML as the raw body. Every 4xx becomes a ``CmlLabError`` naming the
action, the lab (title when known, and id) and CML's reason; 5xx, 502-504, transport
failures and malformed answers keep their usual typed errors, with the lab in the reason.
"""

from __future__ import annotations

import asyncio
from urllib.parse import quote

import httpx

from cmltui.cml.errors import (
    CmlBadResponseError,
    CmlError,
    CmlLabNotFoundError,
    CmlLabRefusedError,
)
from cmltui.cml.lab_wire import (
    check_import,
    parse_download,
    parse_imported,
    parse_lab_details,
    parse_lab_state,
    with_node_states,
)
from cmltui.cml.models import LAB_STARTED, CmlImportedLab, CmlLabDetails
from cmltui.cml.transport import CallsTransport, decode_json, raise_for_status, typed_errors
from cmltui.cml.wire import error_reason, parse_lab_ids
from cmltui.domain.names import visible


def lab_name(lab_id: str, title: str | None) -> str:
    """``lab "Title" (1a2b3c4d)``: the title shown with unsafe characters escaped."""
    short = lab_id[:8]
    return f'lab "{visible(title)}" ({short})' if title else f"lab {lab_id}"


class LabCalls(CallsTransport):
    """Mixed into ``CmlApiClient``, whose transport, lab cache and titles it uses."""

    _stale_lab_ids: set[str]
    _lab_titles: dict[str, str]

    # ------------------------------------------------------------------ helpers
    def _lab_path(self, lab_id: str, action: str, suffix: str = "") -> str:
        if not isinstance(lab_id, str) or not lab_id:
            raise CmlLabNotFoundError(
                f"{action} lab: no lab id given", status_code=None, action=action
            )
        return f"labs/{quote(lab_id, safe='')}{suffix}"

    def _title(self, lab_id: str, title: str | None) -> str | None:
        return title if title is not None else self._lab_titles.get(lab_id)

    def _check_lab_answer(
        self, response: httpx.Response, action: str, lab_id: str | None, title: str | None
    ) -> None:
        """Nothing for a 2xx; a ``CmlLabError`` for a 4xx; the usual typed error otherwise."""
        code = response.status_code
        if 200 <= code < 300:
            return
        name = (
            lab_name(lab_id, title) if lab_id else (f'lab "{visible(title)}"' if title else "lab")
        )
        what = f"{action} {name}"
        if not 400 <= code < 500 or code == 401:
            raise_for_status(response, what)
        reason = error_reason(response)
        if code == 404 and lab_id is not None:
            raise CmlLabNotFoundError(
                f"{what}: not on the controller ({reason})",
                status_code=code,
                action=action,
                lab_id=lab_id,
                lab_title=title,
                cml_reason=reason,
            )
        raise CmlLabRefusedError(
            f"{what}: refused by CML (HTTP {code}): {reason}",
            status_code=code,
            action=action,
            lab_id=lab_id,
            lab_title=title,
            cml_reason=reason,
        )

    # ------------------------------------------------------------------ reads
    @typed_errors
    async def lab_details(self, lab_id: str) -> CmlLabDetails:
        """One lab: ``labs/{id}``, then (only for a started lab that does not carry
        ``node_counts``) ``labs/{id}/lab_element_state`` to count its running nodes."""
        path = self._lab_path(lab_id, "read")
        what = f"read {lab_name(lab_id, self._title(lab_id, None))}"
        response = await self._call("GET", path, what=what)
        self._check_lab_answer(response, "read", lab_id, self._title(lab_id, None))
        details = parse_lab_details(decode_json(response, what), lab_id, what)
        self._lab_titles[lab_id] = details.title
        if details.running_nodes is None and details.state == LAB_STARTED:
            what = f"node states of {lab_name(lab_id, details.title)}"
            response = await self._call("GET", path + "/lab_element_state", what=what)
            self._check_lab_answer(response, "read", lab_id, details.title)
            details = with_node_states(details, decode_json(response, what), what)
        return details

    @typed_errors
    async def labs_with_details(self) -> list[CmlLabDetails]:
        """Every lab on the controller with its details, concurrently (within the client's
        bounds); a lab removed between the list and its read is left out."""
        response = await self._call("GET", "labs", what="labs", params={"show_all": "true"})
        raise_for_status(response, "labs")
        lab_ids = parse_lab_ids(decode_json(response, "labs"))
        results = await asyncio.gather(
            *(self.lab_details(lab_id) for lab_id in lab_ids), return_exceptions=True
        )
        labs: list[CmlLabDetails] = []
        for result in results:
            if isinstance(result, CmlLabNotFoundError):
                continue
            if isinstance(result, CmlError):
                raise result
            if isinstance(result, BaseException):
                raise CmlBadResponseError(f"labs: {type(result).__name__}") from result
            labs.append(result)
        return labs

    @typed_errors
    async def lab_state(self, lab_id: str, *, title: str | None = None) -> str:
        """``labs/{id}/state``: DEFINED_ON_CORE, STOPPED or STARTED (one cheap request, to
        wait for a stop to complete before a wipe)."""
        title = self._title(lab_id, title)
        path = self._lab_path(lab_id, "read", "/state")
        what = f"state of {lab_name(lab_id, title)}"
        response = await self._call("GET", path, what=what)
        self._check_lab_answer(response, "read", lab_id, title)
        return parse_lab_state(decode_json(response, what), what)

    # ------------------------------------------------------------------ actions
    async def _act(
        self, method: str, action: str, lab_id: str, title: str | None, suffix: str
    ) -> None:
        title = self._title(lab_id, title)
        path = self._lab_path(lab_id, action, suffix)
        response = await self._call(method, path, what=f"{action} {lab_name(lab_id, title)}")
        self._check_lab_answer(response, action, lab_id, title)
        # The fleet cycle reads this lab again (its telemetry event may be late or missing).
        self._stale_lab_ids.add(lab_id)

    @typed_errors
    async def start_lab(self, lab_id: str, *, title: str | None = None) -> None:
        """``PUT labs/{id}/start`` (204). CML refuses with 400 "Cannot start lab"."""
        await self._act("PUT", "start", lab_id, title, "/start")

    @typed_errors
    async def stop_lab(self, lab_id: str, *, title: str | None = None) -> None:
        """``PUT labs/{id}/stop`` (204). The stop may complete later: poll ``lab_state``."""
        await self._act("PUT", "stop", lab_id, title, "/stop")

    @typed_errors
    async def wipe_lab(self, lab_id: str, *, title: str | None = None) -> None:
        """``PUT labs/{id}/wipe`` (204); CML refuses a lab that is not stopped (400)."""
        await self._act("PUT", "wipe", lab_id, title, "/wipe")

    @typed_errors
    async def delete_lab(self, lab_id: str, *, title: str | None = None) -> None:
        """``DELETE labs/{id}`` (204); CML refuses a lab not stopped and wiped (400)."""
        await self._act("DELETE", "delete", lab_id, title, "")
        self._lab_titles.pop(lab_id, None)

    @typed_errors
    async def download_lab_yaml(self, lab_id: str, *, title: str | None = None) -> str:
        """The lab's topology YAML, as ``labs/{id}/download`` gives it (checked for shape)."""
        title = self._title(lab_id, title)
        path = self._lab_path(lab_id, "download", "/download")
        what = f"download {lab_name(lab_id, title)}"
        response = await self._call("GET", path, what=what)
        self._check_lab_answer(response, "download", lab_id, title)
        return parse_download(response, what)

    @typed_errors
    async def import_lab_yaml(self, yaml_text: str, title: str | None = None) -> CmlImportedLab:
        """``POST import[?title=]`` with the YAML as the body: the new lab's id and CML's
        warnings. ``CmlTopologyError`` before any request for a text CML would refuse anyway
        (see ``lab_wire.check_import``); ``CmlLabRefusedError`` when CML refuses it."""
        payload = check_import(yaml_text, title)
        what = f'import lab "{visible(title)}"' if title else "import lab"
        response = await self._call(
            "POST", "import", what=what, params={"title": title} if title else None, content=payload
        )
        self._check_lab_answer(response, "import", None, title)
        imported = parse_imported(decode_json(response, what), what)
        if title:
            self._lab_titles[imported.id] = title
        return imported
