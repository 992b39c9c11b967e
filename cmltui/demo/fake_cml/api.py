"""Routing of ``/api/v0/...`` requests onto a fake worker, with CML's 2.9 status codes.

The lab paths and methods are the ones virl2-client 2.9.1 uses (``virl2_client.py``
``ClientLibrary._URL_TEMPLATES`` and ``models/lab.py`` ``Lab._URL_TEMPLATES``): ``labs``,
``labs/{id}`` (GET, DELETE), ``labs/{id}/state``, ``.../start|stop|wipe`` (PUT),
``.../check_if_converged``, ``.../lab_element_state``, ``.../topology``, ``.../download``,
``import`` (POST, raw YAML body, ``?title=``), ``populate_lab_tiles`` and ``users``; and
``system/compute_hosts`` (``models/system.py``), where 2.9 reports ``node_counts``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from cmltui.demo.fake_cml.worker import FakeCmlWorker

_LAB_PATH = re.compile(r"^labs/([^/]+)$")
_LAB_READ_PATH = re.compile(
    r"^labs/([^/]+)/(state|lab_element_state|check_if_converged|topology|download)$"
)
_LAB_ACTION_PATH = re.compile(r"^labs/([^/]+)/(start|stop|wipe)$")
#: The topology YAML: CML's OpenAPI declares a JSON string, but Cisco's mocks and virl2-client
#: (``Lab.download`` returns ``response.text``) treat it as raw text; the media type is a guess.
YAML_CONTENT_TYPE = "text/plain; charset=utf-8"


@dataclass(frozen=True)
class Reply:
    """An answer: ``body`` is JSON-able, or None for a bodiless 204; ``text`` (when set) is
    sent as it is, with ``content_type``."""

    status: int
    body: Any = None
    text: str | None = None
    content_type: str = "application/json"


def _error(code: int, description: str) -> Reply:
    return Reply(code, {"code": code, "description": description})


_NOT_ALLOWED = _error(405, "Method Not Allowed")


def _bearer_token(authorization: str | None) -> str | None:
    if not authorization or not authorization.startswith("Bearer "):
        return None
    return authorization[len("Bearer ") :].strip() or None


def _flag(query: dict[str, list[str]], name: str) -> bool | None:
    values = query.get(name)
    return None if not values else values[-1].lower() == "true"


def dispatch(
    worker: FakeCmlWorker,
    method: str,
    api_path: str,
    query: dict[str, list[str]],
    body: bytes,
    authorization: str | None,
) -> Reply:
    """Answer one request as a CML 2.9 controller would."""
    if api_path == "system_information":
        if method != "GET":
            return _NOT_ALLOWED
        return Reply(200, worker.system_information())
    if api_path == "authenticate":
        if method != "POST":
            return _NOT_ALLOWED
        try:
            credentials = json.loads(body or b"null")
        except ValueError:
            return _error(400, "Invalid JSON body")
        if not isinstance(credentials, dict):
            return _error(400, "Invalid input: expected username and password")
        token = worker.authenticate(credentials.get("username"), credentials.get("password"))
        if token is None:
            return _error(403, "Access is denied. Please check your username and password.")
        return Reply(200, token)

    token = _bearer_token(authorization)
    if token is None:
        return _error(401, "No authorization token provided")
    if not worker.token_is_valid(token):
        return _error(401, "Authorization token is invalid or expired")
    if api_path == "import" or api_path.startswith("labs/"):
        return _labs(worker, method, api_path, query, body)
    return _authenticated(worker, method, api_path, query, body)


def _authenticated(
    worker: FakeCmlWorker, method: str, api_path: str, query: dict[str, list[str]], body: bytes
) -> Reply:
    routes_get = {
        "authok": lambda: Reply(200, "OK"),
        "system_stats": lambda: Reply(200, worker.system_stats()),
        "system_health": lambda: Reply(200, worker.system_health()),
        "licensing": lambda: Reply(200, worker.licensing()),
        "telemetry/events": lambda: Reply(200, worker.telemetry_events()),
        "labs": lambda: Reply(200, worker.lab_ids(show_all=bool(_flag(query, "show_all")))),
        "populate_lab_tiles": lambda: Reply(200, worker.lab_tiles()),
        "users": lambda: Reply(200, worker.users()),
        "system/compute_hosts": lambda: Reply(200, worker.compute_hosts()),
    }
    if api_path in routes_get:
        return routes_get[api_path]() if method == "GET" else _NOT_ALLOWED
    if api_path == "licensing/registration":
        if method != "POST":
            return _NOT_ALLOWED
        try:
            payload = json.loads(body or b"null")
        except ValueError:
            return _error(400, "Invalid JSON body")
        return Reply(*worker.register(payload))
    if api_path == "licensing/deregistration":
        if method != "DELETE":
            return _NOT_ALLOWED
        return Reply(*worker.deregister())
    return _error(404, f"Not found: /api/v0/{api_path}")


def _labs(
    worker: FakeCmlWorker, method: str, api_path: str, query: dict[str, list[str]], body: bytes
) -> Reply:
    if api_path == "import":
        if method != "POST":
            return _NOT_ALLOWED
        titles = query.get("title")
        return Reply(*worker.import_lab(body, titles[-1] if titles else None))
    if match := _LAB_PATH.match(api_path):
        if method == "GET":
            return Reply(*worker.lab(match.group(1)))
        if method == "DELETE":
            return Reply(*worker.delete_lab(match.group(1)))
        return _NOT_ALLOWED
    if match := _LAB_READ_PATH.match(api_path):
        if method != "GET":
            return _NOT_ALLOWED
        lab_id, what = match.groups()
        if what == "download":
            status, answer = worker.lab_download(lab_id)
            if status == 200:
                return Reply(200, text=answer, content_type=YAML_CONTENT_TYPE)
            return Reply(status, answer)
        reads = {
            "state": lambda: worker.lab_state(lab_id),
            "lab_element_state": lambda: worker.lab_element_state(lab_id),
            "check_if_converged": lambda: worker.lab_converged(lab_id),
            "topology": lambda: worker.lab_topology(
                lab_id, exclude_configurations=bool(_flag(query, "exclude_configurations"))
            ),
        }
        return Reply(*reads[what]())
    if match := _LAB_ACTION_PATH.match(api_path):
        if method != "PUT":
            return _NOT_ALLOWED
        return Reply(*worker.lab_action(match.group(1), match.group(2)))
    return _error(404, f"Not found: /api/v0/{api_path}")
