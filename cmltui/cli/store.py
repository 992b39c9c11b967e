"""``cmltui store init`` and ``cmltui store migrate --from tinydb``: the team's DynamoDB table.

Neither needs the fleet (no controller, no EC2 call); errors are one line and exit 2.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from cmltui.cli.output import EXIT_OK, EXIT_USAGE, CliError, out, shown


def add_store_parser(commands: argparse._SubParsersAction) -> None:
    store = commands.add_parser(
        "store", help="the team's shared store: create the DynamoDB table, copy a data file in"
    )
    actions = store.add_subparsers(dest="store_command", metavar="ACTION", required=True)
    actions.add_parser(
        "init", help="create the [store] table and wait until it is ACTIVE (once is enough)"
    )
    migrate = actions.add_parser(
        "migrate",
        help="copy a TinyDB data file's workers and events into the table (safe to run twice)",
    )
    migrate.add_argument("--from", dest="source", choices=("tinydb",), required=True)
    migrate.add_argument(
        "--path", type=Path, metavar="FILE", help="the data file (default: data_dir/cmltui.json)"
    )


def run_store_command(config, args: argparse.Namespace) -> int:
    from cmltui.store.dynamodb_reads import describe_problem
    from cmltui.store.dynamodb_schema import create_table, dynamodb_client
    from cmltui.store.errors import StoreError
    from cmltui.wiring import boto3_session

    table = config.store.table
    client = dynamodb_client(boto3_session(config), config)
    region = config.store.region or config.regions[0]
    try:
        if args.store_command == "init":
            if create_table(client, table):
                out(f"created the DynamoDB table {table} in {region}; it is ACTIVE")
            else:
                out(f"the DynamoDB table {table} in {region} exists already; it is ACTIVE")
            return EXIT_OK
        return _migrate(config, args, client, table)
    except StoreError as error:
        raise CliError(shown(error), EXIT_USAGE) from None
    except Exception as error:  # botocore's errors: one line, never a traceback
        from botocore.exceptions import BotoCoreError, ClientError

        if isinstance(error, (BotoCoreError, ClientError, TimeoutError)):
            raise CliError(shown(describe_problem(error, table)), EXIT_USAGE) from None
        raise


def _migrate(config, args: argparse.Namespace, client, table: str) -> int:
    from cmltui.store import DATA_FILE_NAME
    from cmltui.store.dynamodb_migrate import migrate_from_tinydb
    from cmltui.store.repository import TinyDbWorkerRepository

    path: Path = args.path or config.data_path / DATA_FILE_NAME
    if not path.is_file():
        raise CliError(f"no TinyDB data file at {shown(path)} (give it with --path FILE)", 2)
    client.describe_table(TableName=table)  # missing: "create it: cmltui store init"
    source = TinyDbWorkerRepository(path, read_only=True)
    for notice in source.notices:
        out(f"notice: {shown(notice)}")
    report = migrate_from_tinydb(source, client, table)
    out(f"copied {shown(path)} into the DynamoDB table {table}")
    for line in report.lines():
        out(line)
    return EXIT_OK
