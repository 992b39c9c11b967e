"""The composition root: builds the store, gateway, CML pool and controller from a config."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from cmltui.config import Config, default_log_dir
from cmltui.domain.clock import Clock, utc_now
from cmltui.logfile import already_logging_to, ensure_private_log_file, private_log_handler
from cmltui.services.controller import FleetController


@dataclass
class Runtime:
    """Everything one cmltui process holds open; ``aclose`` releases it all."""

    config: Config
    controller: FleetController
    store: object
    notices: list[str] = field(default_factory=list)

    async def aclose(self) -> None:
        await self.controller.stop()
        close = getattr(self.store, "close", None)
        if close is not None:
            close()


def build_runtime(
    config: Config,
    *,
    read_only: bool = False,
    clock: Clock = utc_now,
    cml_password: str | None = None,
    user: str | None = None,
) -> Runtime:
    """Open the data file and build the controller with its real adapters."""
    from cmltui.aws.gateway import AwsGateway
    from cmltui.cml.pool import CmlApiClientPool
    from cmltui.store import open_store

    store = open_store(config.data_path, clock=clock)
    gateway = AwsGateway(config, session=_boto3_session(config))
    pool = CmlApiClientPool(config, password=cml_password, clock=clock)
    controller = FleetController(
        config, store, gateway, pool, clock=clock, user=user, read_only=read_only
    )
    notices = list(getattr(store, "notices", []) or [])
    return Runtime(config=config, controller=controller, store=store, notices=notices)


def _is_loopback_endpoint(url: str | None) -> bool:
    if not url:
        return False
    host = urlparse(url).hostname or ""
    return host in ("localhost", "::1") or host.startswith("127.")


def _boto3_session(config: Config):
    """The one boto3 session: the configured profile, else the standard credential chain.

    A local endpoint (moto, LocalStack) accepts any credentials; when none are configured there,
    placeholder keys let the demo fleet and tests work on a machine with no AWS account.
    """
    import boto3

    endpoint = config.aws.endpoint_url or os.environ.get("AWS_ENDPOINT_URL")
    session = boto3.Session(profile_name=config.aws.profile) if config.aws.profile else None
    if session is None:
        session = boto3.Session()
        if _is_loopback_endpoint(endpoint) and session.get_credentials() is None:
            session = boto3.Session(
                aws_access_key_id="local-endpoint", aws_secret_access_key="local-endpoint"
            )
    return session


def setup_logging(log_dir: Path | None = None, *, level: int = logging.INFO) -> Path:
    """Log to a file (0600 in a 0700 folder), never to the terminal the TUI draws on."""
    log_dir = log_dir or default_log_dir()
    log_path = log_dir / "cmltui.log"
    ensure_private_log_file(log_path)
    if already_logging_to(log_path):
        return log_path
    handler = private_log_handler(log_path)
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(level)
    # botocore and werkzeug are chatty; their warnings are enough.
    for noisy in ("botocore", "boto3", "urllib3", "werkzeug", "httpx", "httpcore", "moto"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return log_path
