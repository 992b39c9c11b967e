"""A fake CML 2.x controller over HTTPS, many workers per process, for tests and the demo.

Usage::

    server = FakeCmlServer(seed=7).start()
    worker = server.add_worker("i-0abc", labs=4, running_labs=2)
    server.write_ca_file("/tmp/fake-cml-ca.pem")
    server.base_url_for("i-0abc")  # https://127.0.0.1:PORT/w/i-0abc
    worker.set_faults(not_ready_502=True)
    server.stop()

Labs follow CML 2.9's state machine and refusals (``lab_ops``), download as topology YAML and
import from it (``topology``); ``worker.add_lab(title, owner=..., state=...)`` adds one, and
``set_faults(lab_start_refused=True)`` / ``set_faults(lab_transition_seconds=30)`` make start
refuse or start, stop and wipe take time (by the worker's clock).
"""

from cmltui.demo.fake_cml.certs import SelfSignedCertificate, generate_self_signed
from cmltui.demo.fake_cml.faults import CONNECTION_CLOSE, CONNECTION_RESET, WorkerFaults
from cmltui.demo.fake_cml.labs import FakeInterface, FakeLab, FakeLink, FakeNode
from cmltui.demo.fake_cml.server import FakeCmlServer
from cmltui.demo.fake_cml.worker import (
    ADMIN_USER_ID,
    DEMO_LICENSE_TOKEN,
    DEMO_PASSWORD,
    DEMO_USERNAME,
    FakeCmlWorker,
    WorkerCounters,
)

__all__ = [
    "ADMIN_USER_ID",
    "CONNECTION_CLOSE",
    "CONNECTION_RESET",
    "DEMO_LICENSE_TOKEN",
    "DEMO_PASSWORD",
    "DEMO_USERNAME",
    "FakeCmlServer",
    "FakeCmlWorker",
    "FakeInterface",
    "FakeLab",
    "FakeLink",
    "FakeNode",
    "SelfSignedCertificate",
    "WorkerCounters",
    "WorkerFaults",
    "generate_self_signed",
]
