"""The fake controller's labs over real HTTPS: CML's state machine and refusals (status codes
and JSON error bodies), download and import (round trip), lab telemetry, and the lab knobs."""

from __future__ import annotations

import yaml

from cmltui.demo.fake_cml import ADMIN_USER_ID
from cmltui.domain.clock import FrozenClock

ERROR_KEYS = {"code", "description"}


def _is_error(answer, code: int, *words: str) -> bool:
    body = answer.json()
    return (
        answer.status_code == code
        and set(body) == ERROR_KEYS
        and body["code"] == code
        and all(word in body["description"] for word in words)
    )


async def _state(http, auth, lab_id) -> str:
    return (await http.get(f"labs/{lab_id}/state", headers=auth)).json()


async def test_state_machine_with_cml_refusals(raw):
    worker, http, auth = await raw(labs=1, running_labs=0, clock=FrozenClock(), evolve=False)
    lab_id = worker.labs_snapshot()[0].id
    assert await _state(http, auth, lab_id) == "DEFINED_ON_CORE"
    assert (await http.put(f"labs/{lab_id}/start", headers=auth)).status_code == 204
    assert await _state(http, auth, lab_id) == "STARTED"
    assert (await http.put(f"labs/{lab_id}/start", headers=auth)).status_code == 204  # no-op
    assert _is_error(await http.put(f"labs/{lab_id}/wipe", headers=auth), 400, "stopped")
    assert _is_error(await http.delete(f"labs/{lab_id}", headers=auth), 400, "stopped", "wiped")
    assert await _state(http, auth, lab_id) == "STARTED"  # a refusal changes nothing
    assert (await http.put(f"labs/{lab_id}/stop", headers=auth)).status_code == 204
    assert await _state(http, auth, lab_id) == "STOPPED"
    assert (await http.put(f"labs/{lab_id}/stop", headers=auth)).status_code == 204  # no-op
    assert _is_error(await http.delete(f"labs/{lab_id}", headers=auth), 400, "wiped")
    assert (await http.put(f"labs/{lab_id}/wipe", headers=auth)).status_code == 204
    assert await _state(http, auth, lab_id) == "DEFINED_ON_CORE"
    assert (await http.put(f"labs/{lab_id}/wipe", headers=auth)).status_code == 204  # no-op
    assert (await http.delete(f"labs/{lab_id}", headers=auth)).status_code == 204
    assert worker.labs_snapshot() == []
    # What virl2-client's _sync_topology looks for in a 404: "Lab not found: <id>".
    for answer in (
        await http.get(f"labs/{lab_id}", headers=auth),
        await http.put(f"labs/{lab_id}/start", headers=auth),
        await http.delete(f"labs/{lab_id}", headers=auth),
        await http.get(f"labs/{lab_id}/download", headers=auth),
    ):
        assert _is_error(answer, 404, f"Lab not found: {lab_id}")
    assert (await http.patch(f"labs/{lab_id}", headers=auth)).status_code == 405


async def test_start_is_refused_without_capacity_or_a_ready_compute(raw):
    worker, http, auth = await raw(labs=1, running_labs=0)
    lab_id = worker.labs_snapshot()[0].id
    worker.set_faults(lab_start_refused=True)
    assert _is_error(await http.put(f"labs/{lab_id}/start", headers=auth), 400, "Cannot start lab")
    worker.clear_faults()
    worker.ready = False
    assert _is_error(await http.put(f"labs/{lab_id}/start", headers=auth), 400, "Cannot start lab")
    assert await _state(http, auth, lab_id) == "DEFINED_ON_CORE"
    worker.ready = True
    assert (await http.put(f"labs/{lab_id}/start", headers=auth)).status_code == 204


async def test_lab_actions_write_cml_telemetry_categories(raw):
    worker, http, auth = await raw(labs=1, running_labs=0, clock=FrozenClock(), evolve=False)
    lab = worker.labs_snapshot()[0]
    before = len(worker.telemetry_events())
    for action in ("start", "stop", "wipe"):
        assert (await http.put(f"labs/{lab.id}/{action}", headers=auth)).status_code == 204
    download = await http.get(f"labs/{lab.id}/download", headers=auth)
    imported = await http.post("import", content=download.text.encode(), headers=auth)
    new_id = imported.json()["id"]
    events = worker.telemetry_events()[before:]
    categories = [event["category"] for event in events if event["category"] != "user_activity"]
    # 2.9's TelemetryEventCategory has wipe_node (one per node), no wipe_lab.
    assert categories == (
        ["start_lab", "stop_lab"] + ["wipe_node"] * lab.node_count + ["export_lab", "import_lab"]
    )
    wiped = {e["data"]["node_id"] for e in events if e["category"] == "wipe_node"}
    assert wiped == {node.id for node in lab.nodes}
    assert all(e["data"]["lab_id"] == lab.id for e in events if e["category"].endswith("_node"))
    assert events[-1]["data"] == {"lab_id": new_id, "user_id": ADMIN_USER_ID}
    activity = [e for e in events if e["category"] == "user_activity"]
    assert len(activity) == 4 and {e["data"]["user_id"] for e in activity} == {ADMIN_USER_ID}


async def test_transitions_take_time_with_the_knob(raw):
    clock = FrozenClock()
    worker, http, auth = await raw(labs=1, running_labs=1, clock=clock, evolve=False)
    lab = worker.labs_snapshot()[0]
    worker.set_faults(lab_transition_seconds=30)
    assert (await http.put(f"labs/{lab.id}/stop", headers=auth)).status_code == 204
    assert await _state(http, auth, lab.id) == "STARTED"  # still stopping
    assert (await http.get(f"labs/{lab.id}/check_if_converged", headers=auth)).json() is False
    assert _is_error(await http.put(f"labs/{lab.id}/wipe", headers=auth), 400, "stopped")
    clock.advance(seconds=31)
    assert await _state(http, auth, lab.id) == "STOPPED"
    assert (await http.get(f"labs/{lab.id}/check_if_converged", headers=auth)).json() is True
    assert (await http.put(f"labs/{lab.id}/wipe", headers=auth)).status_code == 204
    assert _is_error(await http.delete(f"labs/{lab.id}", headers=auth), 400, "wiped")
    clock.advance(seconds=31)
    assert await _state(http, auth, lab.id) == "DEFINED_ON_CORE"
    # A start shows the lab STARTED at once, its nodes QUEUED (not running) until booted.
    assert (await http.put(f"labs/{lab.id}/start", headers=auth)).status_code == 204
    assert await _state(http, auth, lab.id) == "STARTED"
    states = (await http.get(f"labs/{lab.id}/lab_element_state", headers=auth)).json()
    assert set(states["nodes"].values()) == {"QUEUED"}
    stats = (await http.get("system_stats", headers=auth)).json()
    assert sum(c["stats"]["dominfo"]["running_nodes"] for c in stats["computes"].values()) == 0
    clock.advance(seconds=31)
    states = (await http.get(f"labs/{lab.id}/lab_element_state", headers=auth)).json()
    assert set(states["nodes"].values()) == {"BOOTED"}
    stats = (await http.get("system_stats", headers=auth)).json()
    running = sum(c["stats"]["dominfo"]["running_nodes"] for c in stats["computes"].values())
    assert running == lab.node_count


async def test_element_state_names_every_node_link_and_interface(raw):
    worker, http, auth = await raw(labs=2, running_labs=1, clock=FrozenClock(), evolve=False)
    for lab in worker.labs_snapshot():
        body = (await http.get(f"labs/{lab.id}/lab_element_state", headers=auth)).json()
        assert set(body) == {"nodes", "links", "interfaces"}
        assert set(body["nodes"]) == {node.id for node in lab.nodes}
        assert set(body["links"]) == {link.id for link in lab.links}
        assert len(body["interfaces"]) == sum(len(node.interfaces) for node in lab.nodes)
        expected = "BOOTED" if lab.running else "DEFINED_ON_CORE"
        assert set(body["nodes"].values()) == {expected}


async def test_download_is_yaml_text_that_imports_as_an_equal_lab(raw):
    worker, http, auth = await raw(labs=3, running_labs=1, clock=FrozenClock(), evolve=False)
    original = next(lab for lab in worker.labs_snapshot() if lab.running)
    download = await http.get(f"labs/{original.id}/download", headers=auth)
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("text/plain")
    document = yaml.safe_load(download.text)
    assert set(document) == {"lab", "nodes", "links", "annotations", "smart_annotations"}
    assert document["lab"] == {
        "title": original.title,
        "description": "",
        "notes": "",
        "version": "0.3.0",
    }
    assert [node["id"] for node in document["nodes"]] == [
        f"n{i}" for i in range(len(original.nodes))
    ]
    assert len(document["links"]) == original.link_count
    # virl2-client posts the text as it is, with no Content-Type.
    imported = await http.post("import", content=download.content, headers=auth)
    assert imported.status_code == 200
    assert imported.json() == {"id": imported.json()["id"], "warnings": []}
    new_id = imported.json()["id"]
    copy = next(lab for lab in worker.labs_snapshot() if lab.id == new_id)
    assert (copy.title, copy.state, copy.owner_id) == (
        original.title,
        "DEFINED_ON_CORE",
        ADMIN_USER_ID,
    )
    assert [n.label for n in copy.nodes] == [n.label for n in original.nodes]
    assert {n.id for n in copy.nodes}.isdisjoint({n.id for n in original.nodes})
    again = await http.get(f"labs/{new_id}/download", headers=auth)
    assert again.text == download.text
    titled = await http.post(
        "import", params={"title": "Copy"}, content=download.content, headers=auth
    )
    assert (await http.get(f"labs/{titled.json()['id']}", headers=auth)).json()["lab_title"] == (
        "Copy"
    )


async def test_an_import_without_a_title_gets_one(raw):
    _worker, http, auth = await raw(labs=0, running_labs=0)
    text = "lab:\n  version: 0.3.0\nnodes: []\nlinks: []\n"
    imported = await http.post("import", content=text.encode(), headers=auth)
    assert imported.status_code == 200
    lab = (await http.get(f"labs/{imported.json()['id']}", headers=auth)).json()
    assert lab["lab_title"].startswith("Lab at ")
    assert (lab["node_count"], lab["link_count"]) == (0, 0)


_NODE = "  - {id: n0, label: R1, node_definition: iosv, x: 0, y: 0, interfaces: [%s]}\n"
_IFACES = "{id: i0, label: g0, type: physical, slot: 0}"
_BAD_IMPORTS = {
    "not yaml": (b"lab: [unclosed", None, "YAML"),
    "not a mapping": (b"- a\n- b\n", None, "mapping"),
    "no version": (b"lab: {title: x}\nnodes: []\nlinks: []\n", None, "version"),
    "unknown version": (b"lab: {version: 9.9.9}\nnodes: []\n", None, "version"),
    "nodes not a list": (b"lab: {version: 0.3.0}\nnodes: 3\n", None, "list"),
    "duplicate label": (
        ("lab: {version: 0.3.0}\nnodes:\n" + _NODE % "" + _NODE.replace("n0", "n1") % "").encode(),
        None,
        "duplicate node label",
    ),
    "unknown interface": (
        (
            "lab: {version: 0.3.0}\nnodes:\n"
            + _NODE % _IFACES
            + "links:\n  - {id: l0, n1: n0, i1: i0, n2: n0, i2: i9}\n"
        ).encode(),
        None,
        "unknown node or interface",
    ),
    "interface linked twice": (
        (
            "lab: {version: 0.3.0}\nnodes:\n"
            + _NODE % _IFACES
            + "links:\n  - {id: l0, n1: n0, i1: i0, n2: n0, i2: i0}\n"
        ).encode(),
        None,
        "linked twice",
    ),
    "title too long": (b"lab: {version: 0.3.0}\nnodes: []\n", "x" * 65, "title"),
    "not utf-8": (b"lab: {version: 0.3.0, title: \xff}\nnodes: []\n", None, "UTF-8"),
}


async def test_imports_cml_would_refuse_are_400_json(raw):
    worker, http, auth = await raw(labs=1, running_labs=0)
    for name, (body, title, words) in _BAD_IMPORTS.items():
        params = {"title": title} if title else None
        answer = await http.post("import", params=params, content=body, headers=auth)
        assert _is_error(answer, 400, words), (name, answer.text)
    assert len(worker.labs_snapshot()) == 1


async def test_import_over_2_mb_is_refused_by_nginx(raw):
    worker, http, auth = await raw(labs=0, running_labs=0)
    body = b"lab: {version: 0.3.0}\nnodes: []\n#" + b"x" * (2 * 1024 * 1024)
    answer = await http.post("import", content=body, headers=auth)
    assert answer.status_code == 413
    assert answer.headers["content-type"].startswith("text/html")
    assert worker.labs_snapshot() == []


async def test_unknown_node_definition_imports_with_a_warning(raw):
    _worker, http, auth = await raw(labs=0, running_labs=0)
    text = "lab: {version: 0.3.0}\nnodes:\n" + _NODE.replace("iosv", "acme-router") % ""
    answer = await http.post("import", content=text.encode(), headers=auth)
    assert answer.status_code == 200
    assert len(answer.json()["warnings"]) == 1 and "acme-router" in answer.json()["warnings"][0]


async def test_owners_and_show_all(raw):
    worker, http, auth = await raw(labs=0, running_labs=0)
    mine = worker.add_lab("Mine")
    theirs = worker.add_lab("Theirs", owner="zoe", nodes=5, state="STARTED")
    assert (await http.get("labs", headers=auth)).json() == [mine]
    assert (await http.get("labs", params={"show_all": True}, headers=auth)).json() == [
        mine,
        theirs,
    ]
    lab = (await http.get(f"labs/{theirs}", headers=auth)).json()
    assert (lab["owner_username"], lab["node_count"], lab["state"]) == ("zoe", 5, "STARTED")
    users = {user["username"]: user for user in (await http.get("users", headers=auth)).json()}
    assert users["zoe"]["id"] == lab["owner"] and users["zoe"]["labs"] == [theirs]
    assert users["admin"]["id"] == ADMIN_USER_ID and users["admin"]["admin"] is True


async def test_response_faults_reach_the_lab_endpoints(raw):
    worker, http, auth = await raw(labs=1, running_labs=0)
    lab_id = worker.labs_snapshot()[0].id
    worker.set_faults(http_500=True, only_paths={"labs", "import"})
    assert (await http.put(f"labs/{lab_id}/start", headers=auth)).status_code == 500
    assert (await http.get(f"labs/{lab_id}/download", headers=auth)).status_code == 500
    assert (await http.post("import", content=b"x", headers=auth)).status_code == 500
    assert (await http.get("system_stats", headers=auth)).status_code == 200
    assert worker.labs_snapshot()[0].state == "DEFINED_ON_CORE"  # the fault answered first
    worker.set_faults(http_500=False, malformed_json=True)
    download = await http.get(f"labs/{lab_id}/download", headers=auth)
    assert download.status_code == 200 and "lab:" not in download.text
