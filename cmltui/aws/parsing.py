"""How botocore parses the gateway's responses: faster timestamps, no collections meanwhile.

A 1,000-worker refresh parses big responses (a 250-instance ``DescribeInstances`` page is
~800 KB of XML) in the AWS threads, under the interpreter lock the dashboard's UI shares:

- botocore parses every timestamp with ``dateutil`` (about 40 us each on the 2-core bench
  machine): ``LaunchTime`` and the attach times of every instance, every metric data point.
  AWS writes ISO 8601 in UTC, which ``datetime.fromisoformat`` reads in about 0.1 us; anything
  else (epoch numbers, other formats) still goes to botocore's own parser, so the answers are
  the same. A 250-instance page: 85-186 ms of parsing before, 47 ms after.
- botocore builds the whole XML document as ``Element`` objects before reading it. Each is a
  container the cyclic garbage collector counts and walks: a page is tens of thousands, which
  started young collections over and over in the middle of a parse and made later ones
  walk them again; collections stop every thread, the UI's too. The tree is acyclic and freed
  (by reference counting) as soon as the parse ends, so the collector is paused for the parse
  (``memory.collector_paused``). ``bench/loop_lag.py``, 1,000 workers, 2 runs each: 115 young
  and 10 middle collections in 30 s before, 52-55 and 4-5 after.
- Parses take turns, one at a time in the process: side by side in the AWS threads they end
  no sooner (the work holds the interpreter lock), and each waiting thread is one more the UI
  thread queues behind when it wakes. ``bench/loop_lag.py``, 3 runs each: lag p99 24.1 ms
  (23.3-24.5) before, 22.1 (21.3-23.2) after, the refresh cycle no longer.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

from botocore.parsers import ResponseParserFactory
from botocore.utils import parse_timestamp as botocore_parse_timestamp

from cmltui.memory import collector_paused


def parse_timestamp(value: Any) -> datetime:
    """``value`` as an aware datetime, as botocore's parser gives it (UTC for ISO 'Z')."""
    if isinstance(value, str) and value.endswith("Z"):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            if parsed.tzinfo is not None:
                return parsed.astimezone(UTC)
    result: datetime = botocore_parse_timestamp(value)
    return result


#: One parse at a time in the process (see ``CalmParser``).
_PARSE_TURN = threading.Lock()


class CalmParser:
    """A botocore response parser whose ``parse`` runs with the collector paused, one parse at
    a time.

    Parsing is pure Python work under the interpreter lock: parses run side by side in the
    AWS threads finish no sooner than one after another, but each thread in the queue for the
    lock is one more the UI thread waits behind when it wakes."""

    def __init__(self, parser: Any) -> None:
        self._parser = parser

    def parse(self, response: dict[str, Any], shape: Any) -> Any:
        with _PARSE_TURN, collector_paused():
            return self._parser.parse(response, shape)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._parser, name)


class CalmParserFactory(ResponseParserFactory):
    """botocore's parser factory, making ``CalmParser``s with ``parse_timestamp``."""

    def __init__(self) -> None:
        super().__init__()
        self.set_parser_defaults(timestamp_parser=parse_timestamp)

    def create_parser(self, protocol_name: str) -> Any:
        return CalmParser(super().create_parser(protocol_name))


def use_calm_parsing(session: Any) -> None:
    """Make clients created from ``session`` (a boto3 session) parse with a
    ``CalmParserFactory``. Clients made before keep botocore's; call it first."""
    botocore_session = getattr(session, "_session", None)  # boto3 has no public accessor
    if botocore_session is None:
        return
    if not isinstance(botocore_session.get_component("response_parser_factory"), CalmParserFactory):
        botocore_session.register_component("response_parser_factory", CalmParserFactory())
