"""Bad input, generated (hypothesis): nothing escapes the typed-error boundary.

Config documents -> a Config or ConfigError; CML JSON bodies of any shape -> a model or
CmlBadResponseError; EC2 instance dicts with missing or odd fields -> a DTO or an AwsError;
telemetry values -> accepted within range or InvalidTelemetryError.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from cmltui.aws.dto import CMLWorkerInstanceDto
from cmltui.aws.errors import AwsError
from cmltui.aws.mapping import instance_to_dto
from cmltui.cml import wire
from cmltui.cml.errors import CmlBadResponseError
from cmltui.config import (
    AwsConfig,
    CmlConfig,
    Config,
    ConfigError,
    CostConfig,
    IdleConfig,
    RefreshConfig,
    load_config,
    parse_config,
)
from cmltui.domain.enums import CMLWorkerStatus
from cmltui.domain.errors import InvalidTelemetryError
from tests.fixtures.workers import make_worker

PROPERTY_SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

# ---------------------------------------------------------------- generic JSON / TOML values
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)

# ---------------------------------------------------------------- configuration
_SECTIONS = {
    "aws": AwsConfig,
    "cml": CmlConfig,
    "refresh": RefreshConfig,
    "idle": IdleConfig,
    "cost": CostConfig,
}
toml_scalars = (
    st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
    | st.datetimes()
)
toml_values = st.recursive(
    toml_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3)
    ),
    max_leaves=10,
)


def _section(model) -> st.SearchStrategy[dict]:
    keys = st.sampled_from(sorted(model.model_fields)) | st.text(max_size=8)
    return st.dictionaries(keys, toml_values, max_size=5)


config_documents = st.fixed_dictionaries(
    {},
    optional={
        **{name: _section(model) | toml_values for name, model in _SECTIONS.items()},
        **{name: toml_values for name in Config.model_fields if name not in _SECTIONS},
        "unknown_key": toml_values,
    },
)


@PROPERTY_SETTINGS
@given(config_documents)
@example({"cml": {"endpoint_template": "https://{public_ip.real}"}})
@example({"cml": {"endpoint_template": "https://{instance_id[x]}"}})
@example({"cml_worker_default_tags": {"Owner": "cml-{worker_id.upper.x}"}})
@example({"regions": []})
@example({"refresh": {"ec2_seconds": math.nan}})
def test_any_config_document_is_a_config_or_a_config_error(document):
    try:
        config = parse_config(document, source="gen.toml")
    except ConfigError as err:
        assert str(err).startswith("gen.toml")
        return
    assert isinstance(config, Config)
    # A config that parses is usable: its endpoint template and tags can be filled.
    config.cml.endpoint_template.format(
        public_ip="198.51.100.1", private_ip="10.0.0.1", public_dns="h", instance_id="i-1"
    )
    for value in config.cml_worker_default_tags.values():
        _fill_tag(value)


def _fill_tag(value: str) -> str:
    from cmltui.aws.gateway_launch import _format_tag_value

    return _format_tag_value(value, worker_id="w-1", name="cml-1")


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
@example(b'[cml]\nendpoint_template = "{public_ip.x}"\n')
@example(b"\xff\xfe")
@example(b'regions = ["a", "a"]\n')
def test_any_config_file_loads_or_says_why(tmp_path_factory, raw):
    path = Path(tmp_path_factory.mktemp("cfg")) / "config.toml"
    path.write_bytes(raw)
    try:
        config, loaded_from, warnings = load_config(path)
    except ConfigError as err:
        assert str(path) in str(err)
        return
    assert isinstance(config, Config) and loaded_from == path
    assert all(isinstance(w, str) for w in warnings)


# ---------------------------------------------------------------- CML answers
def _ok_or_bad_response(parse, body):
    try:
        return parse(body)
    except CmlBadResponseError as err:
        assert err.reason  # a short reason for the status line
        return None


sys_info_like = st.fixed_dictionaries(
    {}, optional={"version": json_values | st.text(max_size=12), "ready": json_values}
)
stats_like = st.fixed_dictionaries(
    {},
    optional={
        "all": st.fixed_dictionaries(
            {},
            optional={
                "cpu": st.fixed_dictionaries({}, optional={"percent": json_values}) | json_values,
                "memory": st.fixed_dictionaries(
                    {}, optional={"used": json_values, "total": json_values}
                )
                | json_values,
                "disk": json_values,
            },
        )
        | json_values,
        "computes": st.dictionaries(
            st.text(max_size=6),
            st.fixed_dictionaries(
                {}, optional={"stats": st.fixed_dictionaries({}, optional={"dominfo": json_values})}
            )
            | json_values,
            max_size=3,
        )
        | json_values,
    },
)
lab_like = st.fixed_dictionaries(
    {},
    optional={
        key: json_values for key in ("id", "lab_title", "state", "owner_username", "node_count")
    },
)
licensing_like = st.fixed_dictionaries(
    {},
    optional={
        "udi": json_values,
        "registration": st.fixed_dictionaries(
            {},
            optional={
                "status": json_values,
                "expires": json_values,
                "register_time": st.fixed_dictionaries({}, optional={"failure": json_values})
                | json_values,
            },
        )
        | json_values,
        "authorization": st.fixed_dictionaries(
            {}, optional={"status": json_values, "expires": json_values}
        )
        | json_values,
        "product_license": json_values,
    },
)
events_like = st.lists(
    st.fixed_dictionaries(
        {},
        optional={
            "category": json_values | st.sampled_from(["user_activity", "start_lab"]),
            "timestamp": json_values | st.datetimes(timezones=st.just(UTC)).map(datetime.isoformat),
            "data": json_values,
        },
    )
    | json_values,
    max_size=4,
)


@PROPERTY_SETTINGS
@given(json_values | sys_info_like)
def test_system_information_bodies(body):
    info = _ok_or_bad_response(wire.parse_system_info, body)
    if info is not None:
        assert isinstance(info.version, str) and isinstance(info.ready, bool)


@PROPERTY_SETTINGS
@given(json_values | stats_like)
@example({"all": {"memory": {"used": math.inf, "total": 1}}})
@example({"all": {"memory": {"used": math.nan, "total": 1}}})
@example({"all": {"cpu": {"percent": math.nan}}})
def test_system_stats_bodies(body):
    stats = _ok_or_bad_response(wire.parse_system_stats, body)
    if stats is not None:
        memory = stats.memory_percent
        assert memory is None or 0.0 <= memory <= 100.0


@PROPERTY_SETTINGS
@given(json_values | lab_like, st.text(max_size=8))
def test_lab_bodies(body, lab_id):
    lab = _ok_or_bad_response(lambda b: wire.parse_lab(b, lab_id), body)
    if lab is not None:
        assert isinstance(lab.id, str) and isinstance(lab.is_active, bool)
    _ok_or_bad_response(wire.parse_lab_ids, body)


@PROPERTY_SETTINGS
@given(json_values | licensing_like)
def test_licensing_bodies(body):
    licensing = _ok_or_bad_response(wire.parse_licensing, body)
    if licensing is not None:
        assert licensing.failure_reason is None or isinstance(licensing.failure_reason, str)


@PROPERTY_SETTINGS
@given(json_values | events_like)
def test_telemetry_event_bodies(body):
    events = _ok_or_bad_response(wire.parse_events, body)
    for event in events or []:
        assert event.timestamp.tzinfo is not None


@PROPERTY_SETTINGS
@given(json_values | st.text(max_size=40))
def test_login_answers(body):
    token = _ok_or_bad_response(wire.parse_token, body)
    if token is not None:
        wire.token_times(token)  # never raises, whatever the payload


# ---------------------------------------------------------------- EC2 answers
_EC2_FIELDS = {
    "InstanceId": st.text(min_size=1, max_size=20),
    "ImageId": st.text(max_size=12),
    "InstanceType": st.text(max_size=12),
    "State": st.fixed_dictionaries(
        {}, optional={"Name": st.sampled_from(["running", "stopped", "pending", "weird"])}
    ),
    "PublicIpAddress": st.text(max_size=15),
    "PrivateIpAddress": st.text(max_size=15),
    "PublicDnsName": st.text(max_size=20),
    "LaunchTime": st.datetimes(timezones=st.just(UTC)),
    "Tags": st.lists(
        st.fixed_dictionaries(
            {}, optional={"Key": st.text(max_size=10), "Value": st.text(max_size=10)}
        ),
        max_size=3,
    ),
    "KeyName": st.text(max_size=10),
}
ec2_instances = st.fixed_dictionaries(
    {},
    optional={name: strategy | json_values for name, strategy in _EC2_FIELDS.items()},
)


@PROPERTY_SETTINGS
@given(ec2_instances | json_values)
@example({"InstanceId": "i-1", "State": "running"})
@example({"InstanceId": "i-1", "State": {"Name": 16}})
@example({"InstanceId": "i-1", "Tags": ["Key"]})
@example({"State": {"Name": "running"}})
@example({"InstanceId": ""})
def test_ec2_instances_with_missing_or_odd_fields(raw):
    try:
        dto = instance_to_dto(raw, region="us-east-1")
    except AwsError as err:
        assert err.region == "us-east-1"
        assert "unexpected answer from AWS" in str(err)
        return
    assert isinstance(dto, CMLWorkerInstanceDto)
    assert dto.aws_instance_id and isinstance(dto.name, str)


# ---------------------------------------------------------------- domain telemetry
percents = st.none() | st.floats(allow_nan=True, allow_infinity=True) | st.integers(-5, 200)


@PROPERTY_SETTINGS
@given(
    st.none() | st.datetimes(timezones=st.just(UTC)),
    st.integers(min_value=-3, max_value=10_000) | st.booleans() | st.floats(),
    percents,
    percents,
)
def test_telemetry_values_are_accepted_in_range_or_refused(when, labs, cpu, memory):
    worker = make_worker(name="w", status=CMLWorkerStatus.PENDING, observed=False, fresh=True)

    def in_range(value) -> bool:
        return value is None or (not math.isnan(value) and 0 <= value <= 100)

    valid = (
        isinstance(labs, int)
        and not isinstance(labs, bool)
        and labs >= 0
        and in_range(cpu)
        and in_range(memory)
    )
    try:
        worker.update_telemetry(when, labs, cpu, memory)
    except InvalidTelemetryError as err:
        assert not valid, err
        assert worker.uncommitted_events == ()  # refused whole: nothing half-applied
        return
    assert valid
    state = worker.state
    assert (state.active_labs_count, state.cpu_utilization, state.memory_utilization) == (
        labs,
        cpu,
        memory,
    )
