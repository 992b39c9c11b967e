"""The gateway's response parsing: the fast timestamp parser gives what botocore's own gives,
the collector is paused while a response is parsed (and only then), and the gateway's clients
parse that way."""

from __future__ import annotations

import gc
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC

import boto3
import pytest
from botocore.utils import parse_timestamp as botocore_parse_timestamp

from cmltui.aws.gateway import AwsGateway
from cmltui.aws.parsing import CalmParser, CalmParserFactory, parse_timestamp, use_calm_parsing
from tests.fixtures.moto_fixtures import MOTO_REGIONS

EAST = MOTO_REGIONS[0]


@pytest.mark.parametrize(
    "value",
    [
        "2026-12-03T14:05:06.000Z",  # as EC2 writes LaunchTime
        "2026-12-03T14:05:06Z",
        "2026-12-03T14:05:06.123456Z",
        "2028-02-29T23:59:59.5Z",
        "2026-12-03T14:05:06+02:00",  # not 'Z': botocore's parser
        "2026-12-03 14:05:06",
        "Thu, 03 Dec 2026 14:05:06 GMT",
        1764770706,  # epoch seconds (JSON protocols)
        1764770706.25,
        "1764770706",
    ],
)
def test_same_answer_as_botocore(value: object) -> None:
    ours, theirs = parse_timestamp(value), botocore_parse_timestamp(value)
    assert ours == theirs
    assert ours.utcoffset() == theirs.utcoffset()


def test_iso_z_is_utc_aware() -> None:
    parsed = parse_timestamp("2026-12-03T14:05:06.000Z")
    assert parsed.tzinfo is not None and parsed.utcoffset() == UTC.utcoffset(None)


@pytest.mark.parametrize("value", ["not a time", "2026-13-45T99:00:00Z", ""])
def test_bad_values_fail_as_botocore_fails(value: str) -> None:
    with pytest.raises(ValueError) as theirs:
        botocore_parse_timestamp(value)
    with pytest.raises(type(theirs.value)):
        parse_timestamp(value)


def test_clients_made_after_parse_calmly_with_the_fast_timestamps() -> None:
    session = boto3.Session(aws_access_key_id="x", aws_secret_access_key="y")
    use_calm_parsing(session)
    use_calm_parsing(session)  # twice: still one factory
    client = session.client("ec2", region_name=EAST)
    # botocore's endpoint makes the parser of each response from this factory.
    factory = client._endpoint._response_parser_factory
    assert isinstance(factory, CalmParserFactory)
    parser = factory.create_parser("ec2")
    assert isinstance(parser, CalmParser)
    assert parser._timestamp_parser is parse_timestamp


class _Recording:
    def __init__(self, fail: bool = False) -> None:
        self.collector_enabled: list[bool] = []
        self.fail = fail

    def parse(self, response: dict, shape: object) -> dict:
        self.collector_enabled.append(gc.isenabled())
        if self.fail:
            raise ValueError("unparsable")
        return {"parsed": response["body"]}


def test_the_collector_is_paused_for_the_parse_and_only_then() -> None:
    assert gc.isenabled()
    inner = _Recording()
    assert CalmParser(inner).parse({"body": b"x"}, None) == {"parsed": b"x"}
    assert inner.collector_enabled == [False] and gc.isenabled()
    failing = _Recording(fail=True)
    with pytest.raises(ValueError, match="unparsable"):
        CalmParser(failing).parse({"body": b"x"}, None)
    assert failing.collector_enabled == [False] and gc.isenabled()


class _Slow:
    """A parser that takes a while and counts how many parse at once."""

    def __init__(self) -> None:
        self.active = 0
        self.most_at_once = 0
        self._count = threading.Lock()

    def parse(self, response: dict, shape: object) -> dict:
        with self._count:
            self.active += 1
            self.most_at_once = max(self.most_at_once, self.active)
        time.sleep(0.02)  # releases the interpreter lock: other threads could parse meanwhile
        with self._count:
            self.active -= 1
        return {"parsed": response["body"]}


def test_one_parse_at_a_time_across_threads() -> None:
    """Parses in the AWS threads take turns (each waiting parse is one more thread the UI
    would queue behind for the interpreter lock); every answer still comes back."""
    inner = _Slow()
    parser = CalmParser(inner)
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda n: parser.parse({"body": n}, None), range(12)))
    assert answers == [{"parsed": n} for n in range(12)]
    assert inner.most_at_once == 1
    # Without the turn the same threads overlap (the check can fail).
    bare = _Slow()
    with ThreadPoolExecutor(6) as pool:
        list(pool.map(lambda n: bare.parse({"body": n}, None), range(12)))
    assert bare.most_at_once > 1


async def test_the_gateway_describes_with_the_calm_parser(
    aws_gateway: AwsGateway, aws_session: boto3.Session, moto_client, cml_amis, moto
) -> None:
    ec2 = moto_client("ec2", EAST)
    launched = ec2.run_instances(
        ImageId=cml_amis[EAST],
        MinCount=1,
        MaxCount=1,
        TagSpecifications=[
            {"ResourceType": "instance", "Tags": [{"Key": "cmltui:managed", "Value": "true"}]}
        ],
    )["Instances"][0]

    fleet = await aws_gateway.describe_fleet(EAST)

    client = aws_gateway._client(EAST, "ec2")
    parser = client._endpoint._response_parser_factory.create_parser("ec2")
    assert isinstance(parser, CalmParser) and parser._timestamp_parser is parse_timestamp
    [dto] = [d for d in fleet if d.aws_instance_id == launched["InstanceId"]]
    assert dto.launch_time is not None
    assert dto.launch_time == launched["LaunchTime"]
    assert dto.launch_time.utcoffset() == UTC.utcoffset(None)
