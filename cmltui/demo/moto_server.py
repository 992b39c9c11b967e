"""moto's EC2 + CloudWatch (+ DynamoDB) server on 127.0.0.1, behind a small fault-injecting WSGI
wrapper.

Used by the tests and by the demo fleet. moto has no throttling switch, so ``FaultInjector``
sits in front of moto's own WSGI app and answers chosen requests itself with the error bodies
real AWS sends (see spec/tech-facts.md §4)::

    server = MotoServer().start()
    server.faults.throttle("ec2", count=2)      # the next 2 EC2 requests get RequestLimitExceeded
    server.faults.deny("cloudwatch", "GetMetricData")
    server.faults.throttle("dynamodb", count=None)   # every DynamoDB call throttled until clear()
    server.request_counts[("ec2", "DescribeInstances")]
    server.reset()                              # POST /moto-api/reset and clear the faults
    server.stop()

moto keeps no instance in ``pending`` or ``stopping`` (it jumps to the end state at once), so
``set_instance_state`` edits moto's in-process backend to show a transitional state.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

EC2 = "ec2"
CLOUDWATCH = "cloudwatch"
DYNAMODB = "dynamodb"
ANY_SERVICE = "*"
#: moto's default account (the backends are keyed by account, then region).
MOTO_ACCOUNT_ID = "123456789012"

_CLOUDWATCH_TARGET_PREFIX = "GraniteServiceVersion20100801."
_DYNAMODB_TARGET_PREFIX = "DynamoDB_20120810."
#: EC2 actions whose instance ids are counted (``FaultInjector.instance_requests``).
_COUNTED_INSTANCE_ACTIONS = ("StartInstances", "StopInstances", "TerminateInstances")
_INSTANCE_ID_PARAM = re.compile(r"^InstanceId\.\d+$")
_REGION_IN_AUTH = re.compile(r"Credential=[^/]+/\d{8}/([a-z0-9-]+)/")
#: EC2 state codes, as moto and AWS report them.
_EC2_STATE_CODES = {
    "pending": 0,
    "running": 16,
    "shutting-down": 32,
    "terminated": 48,
    "stopping": 64,
    "stopped": 80,
}

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


@dataclass
class _Fault:
    """One armed fault: which requests it hits, how often, and what it answers."""

    kind: str  # "throttle", "server_error", "slow", "deny", "expired"
    service: str
    action: str | None
    remaining: int | None  # None = until cleared
    region: str | None = None
    seconds: float = 0.0

    def matches(self, service: str, action: str, region: str | None) -> bool:
        if self.service not in (ANY_SERVICE, service):
            return False
        if self.action is not None and self.action != action:
            return False
        return self.region is None or self.region == region


class FaultInjector:
    """WSGI middleware: counts requests per (service, action) and answers armed faults.

    Faults are consumed in the order they were armed; each matching request uses one. Requests
    to ``/moto-api/*`` are never faulted nor counted.
    """

    def __init__(self, app: WsgiApp) -> None:
        self._app = app
        self._lock = threading.Lock()
        self._faults: list[_Fault] = []
        self._release_sleepers = threading.Event()
        #: moto's DynamoDB backend is not thread-safe: a ``TransactWriteItems`` deep-copies the
        #: table (its rollback copy) while another request thread writes it, and fails with a
        #: 500 ("dictionary changed size during iteration"), which real DynamoDB never does.
        #: DynamoDB requests are therefore handed to moto one at a time.
        self._dynamodb_lock = threading.Lock()
        self.request_counts: Counter[tuple[str, str]] = Counter()
        #: EC2 start/stop/terminate requests per (action, instance id), faulted ones included.
        self.instance_requests: Counter[tuple[str, str]] = Counter()
        #: Requests being handled right now, and the most seen at once since the last reset.
        self.in_flight = 0
        self.max_in_flight = 0

    # -- knobs ----------------------------------------------------------------------------------

    def throttle(
        self,
        service: str = ANY_SERVICE,
        count: int | None = 1,
        *,
        action: str | None = None,
        region: str | None = None,
    ) -> None:
        """Answer the next ``count`` requests as throttled (EC2: 503 RequestLimitExceeded;
        DynamoDB: 400 ProvisionedThroughputExceededException, which botocore retries)."""
        self._arm(_Fault("throttle", service, action, count, region))

    def server_error(
        self,
        service: str = ANY_SERVICE,
        count: int | None = 1,
        *,
        action: str | None = None,
        region: str | None = None,
    ) -> None:
        """Answer the next ``count`` requests with HTTP 500 InternalError."""
        self._arm(_Fault("server_error", service, action, count, region))

    def slow(
        self,
        service: str = ANY_SERVICE,
        seconds: float = 2.0,
        count: int | None = 1,
        *,
        action: str | None = None,
        region: str | None = None,
    ) -> None:
        """Hold the next ``count`` requests for ``seconds`` before moto answers them."""
        self._arm(_Fault("slow", service, action, count, region, seconds=seconds))

    def deny(
        self, service: str, action: str, count: int | None = None, *, region: str | None = None
    ) -> None:
        """Refuse ``action`` (EC2: UnauthorizedOperation; CloudWatch: AccessDenied)."""
        self._arm(_Fault("deny", service, action, count, region))

    def expired_credentials(
        self, count: int | None = None, *, service: str = ANY_SERVICE, region: str | None = None
    ) -> None:
        """Refuse requests as signed with expired credentials (EC2: AuthFailure)."""
        self._arm(_Fault("expired", service, None, count, region))

    def unreadable(
        self,
        service: str = ANY_SERVICE,
        count: int | None = 1,
        *,
        action: str | None = None,
        region: str | None = None,
        status: int = 500,
        truncated_xml: bool = False,
    ) -> None:
        """Answer the next ``count`` requests with an HTML page (as a proxy, or AWS for a region
        name it does not know). With 500 botocore raises ``ResponseParserError``; with 200 it
        returns an answer with no data at all, which must not read as "no instances"."""
        kind = "unreadable" if status == 500 else "unreadable_200"
        if truncated_xml:
            kind = "truncated_xml"  # 200 and a cut-off XML document: ResponseParserError
        self._arm(_Fault(kind, service, action, count, region))

    def clear(self) -> None:
        """Disarm every fault and release requests held by ``slow``."""
        with self._lock:
            self._faults.clear()
            self._release_sleepers.set()
            self._release_sleepers = threading.Event()

    def reset_counts(self) -> None:
        with self._lock:
            self.request_counts.clear()
            self.instance_requests.clear()
            self.max_in_flight = self.in_flight

    def _arm(self, fault: _Fault) -> None:
        if fault.remaining is not None and fault.remaining <= 0:
            return
        with self._lock:
            self._faults.append(fault)

    def _take(
        self, service: str, action: str, region: str | None, instance_ids: list[str]
    ) -> _Fault | None:
        with self._lock:
            self.request_counts[(service, action)] += 1
            for instance_id in instance_ids:
                self.instance_requests[(action, instance_id)] += 1
            for fault in self._faults:
                if fault.matches(service, action, region):
                    if fault.remaining is not None:
                        fault.remaining -= 1
                        if fault.remaining <= 0:
                            self._faults.remove(fault)
                    return fault
            return None

    # -- WSGI -----------------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "").startswith("/moto-api"):
            return self._app(environ, start_response)
        service, action = _identify(environ)
        region = _region_of(environ)
        instance_ids = _instance_ids(environ) if action in _COUNTED_INSTANCE_ACTIONS else []
        fault = self._take(service, action, region, instance_ids)
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if fault is None:
                return self._forward(service, environ, start_response)
            if fault.kind == "slow":
                with self._lock:
                    release = self._release_sleepers
                release.wait(fault.seconds)
                return self._forward(service, environ, start_response)
        finally:
            with self._lock:
                self.in_flight -= 1
        status, headers, body = _fault_response(fault.kind, service, action)
        start_response(status, headers)
        return [body]

    def _forward(
        self, service: str, environ: dict[str, Any], start_response: StartResponse
    ) -> list[bytes]:
        if service != DYNAMODB:
            return _drain(self._app(environ, start_response))
        with self._dynamodb_lock:
            return _drain(self._app(environ, start_response))


def _drain(app_iter: Iterable[bytes]) -> list[bytes]:
    """Read a WSGI response whole (so in-flight counts cover it), closing it as WSGI asks."""
    try:
        return list(app_iter)
    finally:
        close = getattr(app_iter, "close", None)
        if close is not None:
            close()


def _identify(environ: dict[str, Any]) -> tuple[str, str]:
    """(service, action) of a request; reads the form body of query-protocol calls and puts it
    back so moto can read it too."""
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target.startswith(_CLOUDWATCH_TARGET_PREFIX):
        return CLOUDWATCH, target.removeprefix(_CLOUDWATCH_TARGET_PREFIX)
    if target.startswith(_DYNAMODB_TARGET_PREFIX):
        return DYNAMODB, target.removeprefix(_DYNAMODB_TARGET_PREFIX)
    action = ""
    if "form-urlencoded" in environ.get("CONTENT_TYPE", ""):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        action = parse_qs(body.decode("utf-8", "replace")).get("Action", [""])[0]
    if not action:
        action = parse_qs(environ.get("QUERY_STRING", "")).get("Action", [""])[0]
    auth = environ.get("HTTP_AUTHORIZATION", "")
    # The signing name tells query-protocol CloudWatch apart from EC2.
    service = CLOUDWATCH if "/monitoring/" in auth else EC2
    return service, action


def _instance_ids(environ: dict[str, Any]) -> list[str]:
    """The ``InstanceId.N`` values of a query-protocol EC2 request (its body was buffered by
    ``_identify``)."""
    stream = environ.get("wsgi.input")
    if not isinstance(stream, io.BytesIO):
        return []
    form = parse_qs(stream.getvalue().decode("utf-8", "replace"))
    return [v for key, values in form.items() if _INSTANCE_ID_PARAM.match(key) for v in values]


def _region_of(environ: dict[str, Any]) -> str | None:
    match = _REGION_IN_AUTH.search(environ.get("HTTP_AUTHORIZATION", ""))
    return match.group(1) if match else None


_EC2_FAULTS = {
    "throttle": ("503 Service Unavailable", "RequestLimitExceeded", "Request limit exceeded."),
    "server_error": (
        "500 Internal Server Error",
        "InternalError",
        "An internal error has occurred.",
    ),
    "deny": (
        "403 Forbidden",
        "UnauthorizedOperation",
        "You are not authorized to perform this operation.",
    ),
    "expired": (
        "401 Unauthorized",
        "AuthFailure",
        "AWS was not able to validate the provided access credentials",
    ),
}
_CLOUDWATCH_FAULTS = {
    "throttle": ("400 Bad Request", "Throttling", "Rate exceeded"),
    "server_error": (
        "500 Internal Server Error",
        "InternalFailure",
        "The request processing has failed because of an unknown error.",
    ),
    "deny": ("403 Forbidden", "AccessDenied", "User is not authorized to perform this action"),
    "expired": (
        "403 Forbidden",
        "ExpiredToken",
        "The security token included in the request is expired",
    ),
}

#: DynamoDB's JSON protocol: the code in ``x-amzn-ErrorType`` and in the body's ``__type``.
_DYNAMODB_FAULTS = {
    "throttle": (
        "400 Bad Request",
        "ProvisionedThroughputExceededException",
        "The level of configured provisioned throughput for the table was exceeded. "
        "Consider increasing your provisioning level with the UpdateTable API.",
    ),
    "server_error": ("500 Internal Server Error", "InternalServerError", "Internal server error"),
    "deny": (
        "400 Bad Request",
        "AccessDeniedException",
        "User is not authorized to perform this action",
    ),
    "expired": (
        "400 Bad Request",
        "ExpiredTokenException",
        "The security token included in the request is expired",
    ),
}


def _fault_response(
    kind: str, service: str, action: str
) -> tuple[str, list[tuple[str, str]], bytes]:
    request_id = f"fault-{time.monotonic_ns()}"
    if kind == "truncated_xml":
        body = b'<?xml version="1.0" encoding="UTF-8"?>\n<DescribeInstancesResponse><reservat'
        return "200 OK", [("Content-Type", "text/xml;charset=UTF-8")], body
    if kind in ("unreadable", "unreadable_200"):
        page = b"<html><body><h1>Error</h1><p>not an AWS answer</p></body></html>"
        status = "200 OK" if kind == "unreadable_200" else "500 Internal Server Error"
        return status, [("Content-Type", "text/html")], page
    if service == DYNAMODB:
        status, code, message = _DYNAMODB_FAULTS[kind]
        body = json.dumps(
            {"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": message}
        ).encode()
        headers = [
            ("Content-Type", "application/x-amz-json-1.0"),
            ("x-amzn-ErrorType", code),
            ("x-amzn-RequestId", request_id),
        ]
        return status, headers, body
    if service == CLOUDWATCH:
        status, code, message = _CLOUDWATCH_FAULTS[kind]
        body = json.dumps({"__type": code, "message": f"{message} ({action})"}).encode()
        fault_side = "Receiver" if kind == "server_error" else "Sender"
        headers = [
            ("Content-Type", "application/x-amz-json-1.0"),
            ("x-amzn-query-error", f"{code};{fault_side}"),
            ("x-amzn-RequestId", request_id),
        ]
        return status, headers, body
    status, code, message = _EC2_FAULTS[kind]
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Response><Errors><Error><Code>{code}</Code><Message>{message} ({action})</Message>"
        f"</Error></Errors><RequestID>{request_id}</RequestID></Response>"
    ).encode()
    return status, [("Content-Type", "text/xml;charset=UTF-8")], body


class MotoServer:
    """moto's WSGI app served by werkzeug in a daemon thread, with ``faults`` in front of it."""

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, *, load_default_amis: bool = False
    ) -> None:
        self._host = host
        self._port = port
        self._load_default_amis = load_default_amis
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.faults: FaultInjector | None = None  # set by start()

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> MotoServer:
        if self._server is not None:
            return self
        # moto reads these when a backend is built (first call and after each reset).
        os.environ["MOTO_EC2_LOAD_DEFAULT_AMIS"] = "true" if self._load_default_amis else "false"
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
        self.faults = FaultInjector(DomainDispatcherApplication(create_backend_app))
        self._server = make_server(
            self._host, self._port, self.faults, threaded=True, request_handler=MotoRequestHandler
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="moto-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        if self.faults is not None:
            self.faults.clear()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = None
        self._thread = None

    def __enter__(self) -> MotoServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("MotoServer is not started")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.port}"

    @property
    def request_counts(self) -> Counter[tuple[str, str]]:
        """Requests seen per (service, action), faulted ones included."""
        if self.faults is None:
            return Counter()
        return self.faults.request_counts

    def reset(self) -> None:
        """Wipe every moto backend (``POST /moto-api/reset``), disarm faults, zero the counts."""
        if self.faults is not None:
            self.faults.clear()
        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST", data=b"")
        with urllib.request.urlopen(request, timeout=30) as response:  # only ever 127.0.0.1
            response.read()
        if self.faults is not None:
            self.faults.reset_counts()


def set_instance_state(
    instance_id: str, state_name: str, *, region: str, account_id: str = MOTO_ACCOUNT_ID
) -> None:
    """Put an instance of the in-process moto backend into ``state_name`` (e.g. ``pending``).

    Works for a ``MotoServer`` in this process: the server shares moto's global backends.
    """
    if state_name not in _EC2_STATE_CODES:
        raise ValueError(f"unknown EC2 state {state_name!r}")
    from moto.ec2.models import ec2_backends

    instance = ec2_backends[account_id][region].get_instance(instance_id)
    instance._state.name = state_name
    instance._state.code = _EC2_STATE_CODES[state_name]
