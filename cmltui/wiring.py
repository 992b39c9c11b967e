"""The composition root: builds the store, gateway, CML pool and controller from a config."""

from __future__ import annotations

import logging
import logging.handlers
import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from cmltui.config import Config, ConfigError, LogConfig, default_log_dir
from cmltui.domain.clock import Clock, utc_now
from cmltui.logfile import ensure_private_log_file, handler_for, private_log_handler
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
    """Open the data file and build the controller with its real adapters.

    Raises ``ConfigError`` for an AWS set-up that cannot work (an unknown profile) and
    ``StoreFolderError`` for a data folder that cannot be used, before anything is opened: one
    that cannot be written (unless read-only), or a path through a regular file.
    """
    from cmltui.aws.gateway import AwsGateway
    from cmltui.cml.pool import CmlApiClientPool
    from cmltui.store import StoreFolderError, open_store
    from cmltui.store.folder import blocking_file

    session = _boto3_session(config)  # a configuration error stops here, before the store
    viewer = read_only or config.read_only
    if (
        viewer and config.store.backend == "tinydb"
    ):  # a viewer never writes; it still needs a folder to read from
        blocker = blocking_file(config.data_path)
        if blocker is not None:
            raise StoreFolderError(config.data_path, f"{blocker} is a file, not a folder")
    store: object
    if config.store.backend == "dynamodb":  # a team's shared table (issue 17)
        from cmltui.store.dynamodb import DynamoDbWorkerRepository
        from cmltui.store.dynamodb_schema import dynamodb_client

        client = dynamodb_client(session, config)
        store = DynamoDbWorkerRepository(client, config.store.table, clock=clock, read_only=viewer)
    else:
        # A read-only viewer opens the data file read-only: it never writes it (issue 12).
        store = open_store(config.data_path, clock=clock, read_only=viewer)
    gateway = AwsGateway(config, session=session)
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


def boto3_session(config: Config):
    """The boto3 session every AWS client of this process uses (EC2, CloudWatch, DynamoDB)."""
    return _boto3_session(config)


def _boto3_session(config: Config):
    """The one boto3 session: the configured profile, else the standard credential chain.

    A local endpoint (moto, LocalStack) accepts any credentials; when none are configured there,
    placeholder keys let the demo fleet and tests work on a machine with no AWS account.
    An unknown profile (``[aws] profile`` or ``$AWS_PROFILE``) or an unreadable AWS config file
    is a ``ConfigError`` naming it.
    """
    import boto3
    from botocore.exceptions import BotoCoreError, ProfileNotFound

    endpoint = config.aws.endpoint_url or os.environ.get("AWS_ENDPOINT_URL")
    try:
        session = boto3.Session(profile_name=config.aws.profile) if config.aws.profile else None
        if session is None:
            session = boto3.Session()
            if _is_loopback_endpoint(endpoint) and session.get_credentials() is None:
                session = boto3.Session(
                    aws_access_key_id="local-endpoint", aws_secret_access_key="local-endpoint"
                )
    except ProfileNotFound as err:
        where = "[aws] profile" if config.aws.profile else "$AWS_PROFILE (or $AWS_DEFAULT_PROFILE)"
        name = getattr(err, "kwargs", {}).get("profile") or config.aws.profile
        files = os.environ.get("AWS_CONFIG_FILE", "~/.aws/config")
        raise ConfigError(
            f"{where}: no AWS profile named {name!r} in {files} or the credentials file"
        ) from None
    except BotoCoreError as err:
        raise ConfigError(f"AWS configuration: {err}") from None
    return session


def setup_logging(
    log_dir: Path | None = None,
    *,
    level: int = logging.INFO,
    log_config: LogConfig | None = None,
) -> Path:
    """Log to a size-rotated file (0600 in a 0700 folder), never to the terminal.

    Called again (e.g. once the configuration is read), it only applies ``log_config``'s size
    bound to the handler already in place.
    """
    log_config = log_config or LogConfig()
    log_dir = log_dir or default_log_dir()
    log_path = log_dir / "cmltui.log"
    ensure_private_log_file(log_path)
    existing = handler_for(log_path)
    if existing is not None:
        if isinstance(existing, logging.handlers.RotatingFileHandler):
            existing.maxBytes = log_config.max_bytes
            existing.backupCount = log_config.backup_count
        return log_path
    handler = private_log_handler(
        log_path, max_bytes=log_config.max_bytes, backup_count=log_config.backup_count
    )
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(level)
    # botocore and werkzeug are chatty; their warnings are enough.
    for noisy in ("botocore", "boto3", "urllib3", "werkzeug", "httpx", "httpcore", "moto"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return log_path
