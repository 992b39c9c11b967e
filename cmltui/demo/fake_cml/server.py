"""The fake CML server: one HTTPS listener on 127.0.0.1 serving many workers.

Worker ``key`` lives under ``https://127.0.0.1:PORT/w/<key>``, so ``base_url_for(key) +
"/api/v0/..."`` reaches its controller and ``cml.endpoint_template`` can be
``https://127.0.0.1:PORT/w/{instance_id}``. The server is ``http.server.ThreadingHTTPServer``
with TLS done per connection in the connection's own thread (a slow handshake never blocks
``accept``); HTTP/1.1 keep-alive with Content-Length on every answer that has a body.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import socket
import ssl
import struct
import tempfile
import threading
import time
import zlib
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cmltui.demo.fake_cml.api import Reply, dispatch
from cmltui.demo.fake_cml.certs import SelfSignedCertificate, generate_self_signed
from cmltui.demo.fake_cml.faults import CONNECTION_RESET
from cmltui.demo.fake_cml.worker import DEMO_PASSWORD, DEMO_USERNAME, FakeCmlWorker
from cmltui.domain.clock import Clock, utc_now

log = logging.getLogger(__name__)

_WORKER_PATH = re.compile(r"^/w/([^/]+)/api/v0/(.*)$")
_NGINX_502 = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)
_NGINX_413 = (
    b"<html>\r\n<head><title>413 Request Entity Too Large</title></head>\r\n<body>\r\n"
    b"<center><h1>413 Request Entity Too Large</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)
#: nginx in front of CML lets ``import`` bodies reach 2 MB (cml-api.md §1, Cisco's own test).
IMPORT_MAX_BODY_BYTES = 2 * 1024 * 1024
_MALFORMED_JSON = b'{"version": "2.9.0", "ready": tru'
_WRONG_SHAPE: Any = [["wrong", "shape"], 42]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    #: Headers and body go out in two writes: without TCP_NODELAY, Nagle plus the client's
    #: delayed ACK would add ~40 ms to every answer.
    disable_nagle_algorithm = True
    #: Idle keep-alive connections are closed after this long (like nginx's keepalive_timeout).
    timeout = 75
    server: _TlsThreadingServer

    def version_string(self) -> str:
        return "nginx"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def finish(self) -> None:
        try:
            super().finish()
        except (OSError, ValueError):
            pass  # the connection was dropped on purpose (fault knob) or by the client

    # ------------------------------------------------------------------ answering
    def _send(
        self, status: int, payload: bytes | None, content_type: str = "application/json"
    ) -> None:
        self.send_response(status)
        if payload is not None:
            self.send_header("Content-Type", content_type)
        if status not in (204, 304):  # the only answers that must not carry Content-Length
            self.send_header("Content-Length", str(len(payload or b"")))
        self.end_headers()
        if payload is not None:
            self.wfile.write(payload)

    def _send_reply(self, reply: Reply) -> None:
        if reply.text is not None:
            self._send(reply.status, reply.text.encode("utf-8"), reply.content_type)
            return
        payload = (
            None if reply.body is None else json.dumps(reply.body, separators=(",", ":")).encode()
        )
        self._send(reply.status, payload)

    def _drop_connection(self, how: str) -> None:
        self.close_connection = True
        if how == CONNECTION_RESET:
            # SO_LINGER 0 makes close() send RST instead of FIN.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            socket.socket.close(self.connection)
        else:
            socket.socket.shutdown(self.connection, socket.SHUT_RDWR)

    def _serve(self, method: str) -> None:
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        match = _WORKER_PATH.match(split.path)
        worker = self.server.fake.worker_for_request(match.group(1)) if match else None
        if match is None or worker is None:
            self._send_reply(Reply(404, {"code": 404, "description": "No such worker or path"}))
            return
        api_path = match.group(2).rstrip("/")
        worker.count_request(api_path, is_login=api_path == "authenticate" and method == "POST")
        if api_path == "import" and len(body) > IMPORT_MAX_BODY_BYTES:
            # nginx refuses the body before CML sees it, with an HTML page.
            worker.count_response(413)
            self._send(413, _NGINX_413, "text/html")
            return
        worker.enter()
        self.server.fake.enter()
        try:
            self._answer(worker, method, api_path, split.query, body)
        finally:
            worker.leave()
            self.server.fake.leave()

    def _answer(
        self, worker: FakeCmlWorker, method: str, api_path: str, query: str, body: bytes
    ) -> None:
        faults = worker.current_faults()
        applies = faults.applies_to(api_path)
        if applies and faults.connection:
            self._drop_connection(faults.connection)
            return
        if applies and faults.delay_seconds > 0:
            time.sleep(faults.delay_seconds)
        if applies and faults.not_ready_502:
            worker.count_response(502)
            self._send(502, _NGINX_502, "text/html")
            return
        if applies and faults.http_500:
            worker.count_response(500)
            self._send_reply(Reply(500, {"code": 500, "description": "Internal Server Error"}))
            return
        reply = dispatch(
            worker, method, api_path, parse_qs(query), body, self.headers.get("Authorization")
        )
        worker.count_response(reply.status)
        if applies and reply.status == 200 and faults.malformed_json:
            self._send(200, _MALFORMED_JSON)
        elif applies and reply.status == 200 and faults.wrong_shape:
            self._send_reply(Reply(200, _WRONG_SHAPE))
        else:
            self._send_reply(reply)


class _TlsThreadingServer(ThreadingHTTPServer):
    daemon_threads = True
    #: Hundreds of clients may connect at once; the default backlog of 5 would drop SYNs.
    request_queue_size = 1024

    def __init__(self, address: tuple[str, int], ssl_context: ssl.SSLContext, fake: FakeCmlServer):
        self.ssl_context = ssl_context
        self.fake = fake
        self._open: set[ssl.SSLSocket] = set()
        self._open_lock = threading.Lock()
        #: TLS connections set up so far (keep-alive tests: reuse means few of them).
        self.connections_accepted = 0
        super().__init__(address, _Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        request.settimeout(10)
        try:
            tls = self.ssl_context.wrap_socket(request, server_side=True)
        except (OSError, ssl.SSLError):
            request.close()  # e.g. the client rejected our certificate
            return
        with self._open_lock:
            self._open.add(tls)
            self.connections_accepted += 1
        try:
            _Handler(tls, client_address, self)  # the RequestHandlerClass given to __init__
        except (OSError, ssl.SSLError):
            pass
        finally:
            with self._open_lock:
                self._open.discard(tls)
            try:
                tls.close()
            except OSError:
                pass

    def shutdown_request(self, request: Any) -> None:
        try:
            request.close()
        except OSError:
            pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("fake CML: connection error from %s", client_address, exc_info=True)

    def drop_open_connections(self) -> None:
        with self._open_lock:
            sockets = list(self._open)
        for tls in sockets:
            try:
                socket.socket.shutdown(tls, socket.SHUT_RDWR)
            except OSError:
                pass


class FakeCmlServer:
    """Many fake CML controllers behind one HTTPS port. ``start()`` runs it in a thread."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        clock: Clock = utc_now,
        seed: int = 0,
        username: str = DEMO_USERNAME,
        password: str = DEMO_PASSWORD,
        certificate: SelfSignedCertificate | None = None,
        tick_seconds: float = 10.0,
    ) -> None:
        self._host = host
        self._requested_port = port
        self._clock = clock
        self._seed = seed
        self._username = username
        self._password = password
        self.certificate = certificate or generate_self_signed()
        self._tick_seconds = tick_seconds
        self._secret = secrets.token_bytes(32)
        self._workers: dict[str, FakeCmlWorker] = {}
        self._workers_lock = threading.Lock()
        #: Called for a key that has no controller yet (see ``serve_new_workers``).
        self._new_worker_factory: Callable[[str], FakeCmlWorker | None] | None = None
        self._new_worker_lock = threading.Lock()
        self._in_flight = 0
        self._max_in_flight = 0
        self._httpd: _TlsThreadingServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle
    def _ssl_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        with tempfile.TemporaryDirectory(prefix="fake-cml-") as folder:
            cert_path = Path(folder) / "cert.pem"
            key_path = Path(folder) / "key.pem"
            cert_path.write_bytes(self.certificate.cert_pem)
            key_path.write_bytes(self.certificate.key_pem)
            key_path.chmod(0o600)
            context.load_cert_chain(cert_path, key_path)
        return context

    def start(self) -> FakeCmlServer:
        if self._httpd is not None:
            return self
        self._httpd = _TlsThreadingServer(
            (self._host, self._requested_port), self._ssl_context(), self
        )
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="fake-cml-server",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        httpd.drop_open_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeCmlServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ addresses
    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the fake CML server is not started")
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"https://{self._host}:{self.port}"

    def base_url_for(self, worker_key: str) -> str:
        """What a worker's ``endpoint`` is: base URL + ``/api/v0/...`` reaches its controller."""
        return f"{self.url}/w/{worker_key}"

    @property
    def endpoint_template(self) -> str:
        """A ``cml.endpoint_template`` that reaches workers keyed by EC2 instance id."""
        return self.url + "/w/{instance_id}"

    def write_ca_file(self, path: str | Path) -> Path:
        return self.certificate.write_ca_file(path)

    # ------------------------------------------------------------------ workers
    def add_worker(
        self,
        key: str,
        *,
        version: str = "2.9.0",
        labs: int = 3,
        running_labs: int = 1,
        licensed: bool = True,
        evaluation: bool = False,
        ready: bool = True,
        seed: int | None = None,
        clock: Clock | None = None,
        token_ttl_seconds: float = 3600.0,
        registration_seconds: float = 3.0,
        computes: int = 1,
        evolve: bool = True,
    ) -> FakeCmlWorker:
        """Add (or replace) a worker; its seed defaults to one derived from the server's."""
        worker_seed = seed if seed is not None else self._seed ^ zlib.crc32(key.encode())
        worker = FakeCmlWorker(
            key,
            secret=self._secret,
            username=self._username,
            password=self._password,
            version=version,
            labs=labs,
            running_labs=running_labs,
            licensed=licensed,
            evaluation=evaluation,
            ready=ready,
            seed=worker_seed,
            clock=clock or self._clock,
            token_ttl_seconds=token_ttl_seconds,
            registration_seconds=registration_seconds,
            computes=computes,
            tick_seconds=self._tick_seconds,
            evolve=evolve,
        )
        with self._workers_lock:
            self._workers[key] = worker
        return worker

    def remove_worker(self, key: str) -> None:
        with self._workers_lock:
            self._workers.pop(key, None)

    def reset(self) -> None:
        """Drop every worker and zero the server-wide counters (between tests)."""
        with self._workers_lock:
            self._workers.clear()
            self._max_in_flight = self._in_flight

    def enter(self) -> None:
        with self._workers_lock:
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)

    def leave(self) -> None:
        with self._workers_lock:
            self._in_flight -= 1

    @property
    def connections_accepted(self) -> int:
        """TLS connections accepted since start (all workers): reuse keeps this low."""
        return self._httpd.connections_accepted if self._httpd is not None else 0

    @property
    def max_in_flight(self) -> int:
        """The most requests (all workers) ever answered at once since the last reset."""
        with self._workers_lock:
            return self._max_in_flight

    def worker(self, key: str) -> FakeCmlWorker:
        found = self.worker_or_none(key)
        if found is None:
            raise KeyError(key)
        return found

    def worker_or_none(self, key: str) -> FakeCmlWorker | None:
        with self._workers_lock:
            return self._workers.get(key)

    def serve_new_workers(self, factory: Callable[[str], FakeCmlWorker | None] | None) -> None:
        """A request for a key with no controller asks ``factory(key)`` for one (it calls
        ``add_worker``, or returns None: 404 as before). The demo uses it so that a worker
        created in the dashboard gets a controller as a new EC2 instance gets its CML."""
        self._new_worker_factory = factory

    def worker_for_request(self, key: str) -> FakeCmlWorker | None:
        """The key's controller; a new one from the factory when there is none yet."""
        found = self.worker_or_none(key)
        factory = self._new_worker_factory
        if found is not None or factory is None:
            return found
        with self._new_worker_lock:
            # Two first requests at once must not create two controllers.
            return self.worker_or_none(key) or factory(key)

    def worker_keys(self) -> list[str]:
        with self._workers_lock:
            return list(self._workers)
