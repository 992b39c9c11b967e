"""Routing of ``/api/v0/...`` requests onto a fake worker, with CML's 2.9 status codes."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from cmltui.demo.fake_cml.worker import FakeCmlWorker

_LAB_PATH = re.compile(r"^labs/([^/]+)$")
_LAB_STATE_PATH = re.compile(r"^labs/([^/]+)/state$")
_LAB_ACTION_PATH = re.compile(r"^labs/([^/]+)/(start|stop|wipe)$")


@dataclass(frozen=True)
class Reply:
    """An answer: ``body`` is JSON-able, or None for a bodiless 204."""

    status: int
    body: Any = None


def _error(code: int, description: str) -> Reply:
    return Reply(code, {"code": code, "description": description})


def _bearer_token(authorization: str | None) -> str | None:
    if not authorization or not authorization.startswith("Bearer "):
        return None
    return authorization[len("Bearer ") :].strip() or None


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
            return _error(405, "Method Not Allowed")
        return Reply(200, worker.system_information())
    if api_path == "authenticate":
        if method != "POST":
            return _error(405, "Method Not Allowed")
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
        "labs": lambda: Reply(
            200, worker.lab_ids(show_all=query.get("show_all", ["false"])[-1].lower() == "true")
        ),
    }
    if api_path in routes_get:
        return routes_get[api_path]() if method == "GET" else _error(405, "Method Not Allowed")
    if api_path == "licensing/registration":
        if method != "POST":
            return _error(405, "Method Not Allowed")
        try:
            payload = json.loads(body or b"null")
        except ValueError:
            return _error(400, "Invalid JSON body")
        return Reply(*worker.register(payload))
    if api_path == "licensing/deregistration":
        if method != "DELETE":
            return _error(405, "Method Not Allowed")
        return Reply(*worker.deregister())
    if match := _LAB_PATH.match(api_path):
        return (
            Reply(*worker.lab(match.group(1)))
            if method == "GET"
            else _error(405, "Method Not Allowed")
        )
    if match := _LAB_STATE_PATH.match(api_path):
        if method != "GET":
            return _error(405, "Method Not Allowed")
        return Reply(*worker.lab_state(match.group(1)))
    if match := _LAB_ACTION_PATH.match(api_path):
        if method != "PUT":
            return _error(405, "Method Not Allowed")
        return Reply(*worker.lab_action(match.group(1), match.group(2)))
    return _error(404, f"Not found: /api/v0/{api_path}")
