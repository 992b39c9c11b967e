"""Lab answers of the wrong shape are typed errors; CML's lab rules; topology shape checks."""

from __future__ import annotations

import json

import httpx
import pytest

from cmltui.cml.errors import CmlBadResponseError
from cmltui.cml.lab_wire import (
    parse_download,
    parse_imported,
    parse_lab_details,
    parse_lab_state,
    topology_problem,
    with_node_states,
)
from cmltui.cml.models import lab_action_refusal

LAB_ID = "863799a0-3d09-4af4-be26-cad997b6ab27"
# The LabResponse example of cml-api.md §4.
LAB = {
    "id": LAB_ID,
    "lab_title": "CSR 1000v Feature Tests",
    "lab_description": "",
    "lab_notes": "",
    "state": "STARTED",
    "created": "2022-08-05T04:55:23+00:00",
    "modified": "2022-08-05T04:55:23+00:00",
    "owner": "640a1c81-f1e7-4159-8fa2-ad35d9a68586",
    "owner_username": "admin",
    "owner_fullname": "",
    "node_count": 6,
    "link_count": 7,
    "groups": [],
    "effective_permissions": ["lab_admin", "lab_edit", "lab_exec", "lab_view"],
}


def test_a_started_lab_needs_its_node_states_to_count_running_nodes():
    details = parse_lab_details(LAB, LAB_ID, "read")
    assert (details.title, details.state, details.node_count, details.running_nodes) == (
        "CSR 1000v Feature Tests",
        "STARTED",
        6,
        None,
    )
    assert details.created is not None and details.created.utcoffset() is not None
    states = {
        "n0": "BOOTED",
        "n1": "STARTED",
        "n2": "QUEUED",
        "n3": "DISCONNECTED",
        "n4": "STOPPED",
    }
    counted = with_node_states(details, {"nodes": states, "links": {}, "interfaces": {}}, "x")
    assert (counted.running_nodes, counted.node_count) == (2, 6)
    no_count = parse_lab_details({**LAB, "node_count": None}, LAB_ID, "read")
    assert with_node_states(no_count, {"nodes": states}, "x").node_count == 5


def test_a_lab_that_is_not_started_runs_no_node():
    for state in ("STOPPED", "DEFINED_ON_CORE"):
        assert parse_lab_details({**LAB, "state": state}, LAB_ID, "read").running_nodes == 0


def test_node_counts_are_used_when_a_controller_sends_them():
    counts = {"running_nodes": 3, "total_nodes": 5, "total_orphans": 0}
    details = parse_lab_details({**LAB, "node_counts": counts}, LAB_ID, "read")
    assert (details.running_nodes, details.node_count) == (3, 5)


@pytest.mark.parametrize(
    "body",
    [
        [LAB],
        "STARTED",
        {**LAB, "state": None},
        {key: value for key, value in LAB.items() if key != "state"},
        {**LAB, "state": ""},
        {**LAB, "node_count": -1},
        {**LAB, "node_count": "six"},
        {**LAB, "lab_title": 42},
        {**LAB, "node_counts": {"running_nodes": -2}},
        {**LAB, "id": "another-lab"},
    ],
)
def test_malformed_lab_details_are_bad_responses(body):
    with pytest.raises(CmlBadResponseError):
        parse_lab_details(body, LAB_ID, "read lab")


@pytest.mark.parametrize("body", [None, [], {"nodes": []}, {"nodes": {"n0": 3}}, {"links": {}}])
def test_malformed_node_states_are_bad_responses(body):
    details = parse_lab_details(LAB, LAB_ID, "read")
    with pytest.raises(CmlBadResponseError):
        with_node_states(details, body, "node states")


def test_lab_state_and_import_answers():
    assert parse_lab_state("STOPPED", "state") == "STOPPED"
    for body in (None, 3, "", {"state": "STOPPED"}, "x" * 65):
        with pytest.raises(CmlBadResponseError):
            parse_lab_state(body, "state")
    assert parse_imported({"id": LAB_ID, "warnings": None}, "import").warnings == ()
    assert parse_imported({"id": LAB_ID, "warnings": ["w"]}, "import").warnings == ("w",)
    for body in ({}, {"id": ""}, {"id": 3}, [LAB_ID], LAB_ID, {"id": LAB_ID, "warnings": "w"}):
        with pytest.raises(CmlBadResponseError):
            parse_imported(body, "import")


def _answer(content: bytes) -> httpx.Response:
    return httpx.Response(200, content=content)


def test_downloads_are_checked_topologies():
    text = "lab:\n  title: x\n  version: 0.3.0\nnodes: []\nlinks: []\n"
    assert parse_download(_answer(text.encode()), "download") == text
    # CML's OpenAPI declares the answer a JSON string: unwrapped too.
    assert parse_download(_answer(json.dumps(text).encode()), "download") == text
    for bad in (
        b'{"version": "2.9.0", "ready": tru',
        b'[["wrong", "shape"], 42]',
        b"<html><body>502 Bad Gateway</body></html>",
        b"\xff\xfe not utf-8",
        b'"just a string"',
        b"",
    ):
        with pytest.raises(CmlBadResponseError):
            parse_download(_answer(bad), "download")


@pytest.mark.parametrize(
    ("text", "fine"),
    [
        ("lab:\n  version: 0.3.0\nnodes: []\n", True),
        ("---\n# exported\nlab: {version: 0.3.0}\nlinks: []\nnodes:\n- id: n0\n", True),
        ('{"lab": {"version": "0.3.0"}, "nodes": [], "links": []}', True),
        ("nodes: []\n", False),
        ("  lab:\n  nodes: []\n", False),
        ('{"lab": {}, "nodes": {}}', False),
        ("lab:\nnodes:\x00", False),
        ("", False),
    ],
)
def test_topology_shape_check(text, fine):
    assert (topology_problem(text) is None) is fine


@pytest.mark.parametrize(
    ("state", "action", "refused"),
    [
        ("STARTED", "start", None),
        ("STARTED", "stop", None),
        ("STARTED", "wipe", "wipe needs a stopped lab: stop it first"),
        ("STARTED", "delete", "delete needs a stopped and wiped lab: stop and wipe it first"),
        ("STOPPED", "wipe", None),
        ("STOPPED", "delete", "delete needs a stopped and wiped lab: wipe it first"),
        ("DEFINED_ON_CORE", "wipe", None),
        ("DEFINED_ON_CORE", "delete", None),
        ("SOMETHING_NEW", "wipe", "wipe needs a stopped lab: stop it first"),
    ],
)
def test_cml_lab_rules(state, action, refused):
    assert lab_action_refusal(state, action) == refused
