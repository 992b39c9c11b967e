"""The client's lab calls against the fake controller over verified HTTPS."""

from __future__ import annotations

import re

import pytest

from cmltui.cml.errors import (
    CmlLabError,
    CmlLabNotFoundError,
    CmlLabRefusedError,
    CmlTopologyError,
)
from cmltui.cml.models import CmlLabDetails
from cmltui.domain.clock import FrozenClock, utc_now


def _make(make_worker, **kwargs):
    # Frozen at the real time: the client checks the fake's tokens against the real clock.
    clock = FrozenClock(utc_now())
    worker, client = make_worker(clock=clock, evolve=False, **kwargs)
    return worker, client, clock


def _lab_requests(worker) -> int:
    return sum(
        n for path, n in worker.counters.requests_by_path.items() if path.startswith("labs/")
    )


async def test_lab_details_of_a_started_and_a_defined_lab(make_worker):
    worker, client, _clock = _make(make_worker, labs=2, running_labs=1)
    started, defined = worker.labs_snapshot()
    details = await client.lab_details(started.id)
    assert details == CmlLabDetails(
        id=started.id,
        title=started.title,
        state="STARTED",
        owner_id=started.owner_id,
        owner_username=started.owner_username,
        owner_fullname=started.owner_username.title(),
        node_count=started.node_count,
        running_nodes=started.node_count,
        link_count=started.link_count,
        created=started.created.replace(microsecond=0),
        modified=started.modified.replace(microsecond=0),
        effective_permissions=("lab_admin", "lab_edit", "lab_exec", "lab_view"),
    )
    # A started lab costs its details plus its node states; any other lab its details only.
    assert worker.counters.requests_by_path[f"labs/{started.id}/lab_element_state"] == 1
    other = await client.lab_details(defined.id)
    assert (other.state, other.running_nodes, other.node_count) == (
        "DEFINED_ON_CORE",
        0,
        defined.node_count,
    )
    assert f"labs/{defined.id}/lab_element_state" not in worker.counters.requests_by_path


async def test_running_nodes_follow_the_node_states(make_worker):
    worker, client, clock = _make(make_worker, labs=1, running_labs=0)
    lab = worker.labs_snapshot()[0]
    worker.set_faults(lab_transition_seconds=20)
    await client.start_lab(lab.id)
    booting = await client.lab_details(lab.id)
    assert (booting.state, booting.running_nodes) == ("STARTED", 0)  # nodes QUEUED
    clock.advance(seconds=21)
    booted = await client.lab_details(lab.id)
    assert booted.running_nodes == booted.node_count == lab.node_count > 0


async def test_labs_with_details_is_every_lab_with_owner_and_nodes(make_worker):
    worker, client, _clock = _make(make_worker, labs=6, running_labs=2)
    worker.add_lab("Other user's lab", owner="zoe", nodes=4, state="STOPPED")
    labs = await client.labs_with_details()
    expected = {lab.id: lab for lab in worker.labs_snapshot()}
    assert [lab.id for lab in labs] == list(expected)
    for lab in labs:
        fake = expected[lab.id]
        assert (lab.title, lab.state, lab.owner_username, lab.node_count) == (
            fake.title,
            fake.state,
            fake.owner_username,
            fake.node_count,
        )
        assert lab.running_nodes == (fake.node_count if fake.running else 0)
    # One list, one read per lab, one node-state read per started lab.
    assert worker.counters.requests_by_path["labs"] == 1
    assert _lab_requests(worker) == 7 + 2


async def test_each_action_moves_the_lab_on_the_controller(make_worker):
    worker, client, _clock = _make(make_worker, labs=1, running_labs=0)
    lab_id = worker.labs_snapshot()[0].id
    for action, state in (
        (client.start_lab, "STARTED"),
        (client.stop_lab, "STOPPED"),
        (client.wipe_lab, "DEFINED_ON_CORE"),
    ):
        assert await action(lab_id) is None
        assert worker.labs_snapshot()[0].state == state
        assert await client.lab_state(lab_id) == state
    await client.delete_lab(lab_id)
    assert worker.labs_snapshot() == []
    counts = worker.counters.requests_by_path
    assert [counts[f"labs/{lab_id}/{a}"] for a in ("start", "stop", "wipe")] == [1, 1, 1]
    assert counts[f"labs/{lab_id}"] == 1  # the DELETE


async def test_refusals_name_the_lab_and_cml_reason(make_worker):
    worker, client, _clock = _make(make_worker, labs=2, running_labs=1)
    started, defined = worker.labs_snapshot()
    await client.labs()  # titles are known from the fleet cycle
    with pytest.raises(CmlLabRefusedError) as wipe:
        await client.wipe_lab(started.id)
    assert (wipe.value.status_code, wipe.value.action, wipe.value.lab_id) == (
        400,
        "wipe",
        started.id,
    )
    assert wipe.value.lab_title == started.title
    assert wipe.value.cml_reason == "The lab must be stopped before it can be wiped"
    assert wipe.value.reason == (
        f'wipe lab "{started.title}" ({started.id[:8]}): refused by CML (HTTP 400): '
        "The lab must be stopped before it can be wiped"
    )
    with pytest.raises(CmlLabRefusedError) as delete:
        await client.delete_lab(started.id)
    assert "stopped and wiped" in delete.value.reason and started.title in delete.value.reason
    worker.set_faults(lab_start_refused=True)
    with pytest.raises(CmlLabRefusedError) as start:
        await client.start_lab(defined.id, title="Given title")
    assert 'start lab "Given title"' in start.value.reason
    assert "Cannot start lab" in start.value.cml_reason
    assert [lab.state for lab in worker.labs_snapshot()] == ["STARTED", "DEFINED_ON_CORE"]


async def test_an_unknown_lab_is_not_found(make_worker):
    _worker, client, _clock = _make(make_worker, labs=1, running_labs=0)
    ghost = "00000000-0000-4000-8000-00000000beef"
    calls = {
        "read": client.lab_details(ghost),
        "start": client.start_lab(ghost),
        "stop": client.stop_lab(ghost),
        "wipe": client.wipe_lab(ghost),
        "delete": client.delete_lab(ghost),
        "download": client.download_lab_yaml(ghost),
    }
    for action, call in calls.items():
        with pytest.raises(CmlLabNotFoundError) as caught:
            await call
        assert caught.value.status_code == 404 and caught.value.action == action
        assert ghost in caught.value.reason and "Lab not found" in caught.value.cml_reason
    with pytest.raises(CmlLabNotFoundError):
        await client.start_lab("")


async def test_remote_titles_are_escaped_in_messages(make_worker):
    worker, client, _clock = _make(make_worker, labs=0, running_labs=0)
    lab_id = worker.add_lab("evil\u202etxt.yaml\n", state="STARTED")
    await client.labs_with_details()
    with pytest.raises(CmlLabError) as caught:
        await client.delete_lab(lab_id)
    assert "\u202e" not in caught.value.reason and "\n" not in caught.value.reason
    assert "evil\\u202etxt.yaml\\x0a" in caught.value.reason
    assert caught.value.lab_title == "evil\u202etxt.yaml\n"  # the raw title rides along


async def test_download_and_import_round_trip(make_worker):
    worker, client, _clock = _make(make_worker, labs=2, running_labs=1)
    original = worker.labs_snapshot()[0]
    text = await client.download_lab_yaml(original.id)
    imported = await client.import_lab_yaml(text)
    assert imported.warnings == () and imported.id != original.id
    copy = await client.lab_details(imported.id)
    assert (copy.title, copy.state, copy.node_count, copy.link_count) == (
        original.title,
        "DEFINED_ON_CORE",
        original.node_count,
        original.link_count,
    )
    assert await client.download_lab_yaml(imported.id) == text
    titled = await client.import_lab_yaml(text, title="Copy of lab")
    assert (await client.lab_details(titled.id)).title == "Copy of lab"
    # Whatever the first node is (the topology is drawn at random per lab: one CI run drew a
    # lab without an iosv node, and replacing "iosv" changed nothing).
    unknown, replaced = re.subn(r"node_definition: \S+", "node_definition: x9", text, count=1)
    assert replaced == 1
    warned = await client.import_lab_yaml(unknown)
    assert warned.warnings and "x9" in warned.warnings[0]
    assert len(worker.labs_snapshot()) == 5


_NOT_SENT = {
    "empty": ("  \n", None, "empty"),
    "not a topology": ("hello: world\n", None, "not a CML topology"),
    "json without lab": ('{"nodes": []}', None, "not a CML topology"),
    "over 2 MB": ("lab: {}\nnodes: []\n#" + "x" * (2 * 1024 * 1024), None, "at most 2 MB"),
    "title too long": ("lab: {}\nnodes: []\n", "t" * 65, "1 to 64"),
    "empty title": ("lab: {}\nnodes: []\n", "", "1 to 64"),
    "title with a control": ("lab: {}\nnodes: []\n", "a\x1bb", "cannot be seen"),
    "not text": (b"lab: {}\nnodes: []\n", None, "must be text"),
}


@pytest.mark.parametrize("case", list(_NOT_SENT))
async def test_imports_refused_before_upload_send_nothing(make_worker, case):
    worker, client, _clock = _make(make_worker, labs=0, running_labs=0)
    text, title, words = _NOT_SENT[case]
    with pytest.raises(CmlTopologyError) as caught:
        await client.import_lab_yaml(text, title=title)
    assert words in caught.value.reason
    assert client.request_count == 0 == worker.request_count


async def test_an_import_cml_refuses_is_a_typed_refusal(make_worker):
    worker, client, _clock = _make(make_worker, labs=0, running_labs=0)
    with pytest.raises(CmlLabRefusedError) as caught:
        await client.import_lab_yaml("lab: {version: 9.9}\nnodes: []\n", title="Bad one")
    assert caught.value.status_code == 400 and caught.value.action == "import"
    assert caught.value.reason.startswith('import lab "Bad one": refused by CML (HTTP 400): ')
    assert "version" in caught.value.cml_reason
    assert worker.labs_snapshot() == []


async def test_a_stop_in_progress_is_seen_before_the_wipe(make_worker):
    worker, client, clock = _make(make_worker, labs=1, running_labs=1)
    lab_id = worker.labs_snapshot()[0].id
    worker.set_faults(lab_transition_seconds=15)
    await client.stop_lab(lab_id)
    assert await client.lab_state(lab_id) == "STARTED"
    with pytest.raises(CmlLabRefusedError):
        await client.wipe_lab(lab_id)
    clock.advance(seconds=16)
    assert await client.lab_state(lab_id) == "STOPPED"
    await client.wipe_lab(lab_id)
    clock.advance(seconds=16)
    await client.delete_lab(lab_id)
    assert worker.labs_snapshot() == []


async def test_lab_calls_add_nothing_to_the_fleet_cycle(make_worker):
    worker, client, _clock = _make(make_worker, labs=4, running_labs=2)
    await client.labs()
    await client.new_activity_events()  # lab events are trusted from now on
    await client.labs()  # reads again the labs the events named
    before = worker.request_count
    await client.labs()
    assert worker.request_count - before == 1  # the list only
    await client.labs_with_details()
    await client.download_lab_yaml(worker.labs_snapshot()[0].id)
    before = worker.request_count
    await client.labs()
    assert worker.request_count - before == 1  # still the list only


async def test_an_action_makes_the_fleet_cycle_read_that_lab_again(make_worker):
    worker, client, _clock = _make(make_worker, labs=3, running_labs=1)
    await client.labs()
    await client.new_activity_events()
    await client.labs()  # reads again the labs the events named
    stopped = worker.labs_snapshot()[0]
    await client.stop_lab(stopped.id)
    before = worker.counters.requests_by_path[f"labs/{stopped.id}"]
    labs = {lab.id: lab for lab in await client.labs()}
    assert worker.counters.requests_by_path[f"labs/{stopped.id}"] == before + 1
    assert labs[stopped.id].state == "STOPPED"
