"""The fake answers the requests virl2-client makes, in the shapes it reads.

Written from the source of CiscoDevNet/virl2-client at tag v2.9.1 (commit fb76274):

- ``virl2_client/virl2_client.py``: ``ClientLibrary._URL_TEMPLATES`` (``labs``, ``import``,
  ``lab_topology``, ``populate_lab_tiles``...), ``get_lab_list`` (``params={"show_all": True}``,
  a JSON list of ids), ``_create_imported_lab`` (``POST import``, ``params={"title": title}``,
  ``content=topology``, reads ``.json()["id"]``), ``join_existing_lab`` (``GET
  labs/{id}/topology``; ``topology["lab"]["title"]``; a 404 means ``LabNotFound``),
  ``find_labs_by_title`` (``populate_lab_tiles``: ``["lab_tiles"][id]["lab_title"]``),
  ``_remove_unjoined_lab`` (``DELETE labs/{id}``).
- ``virl2_client/models/lab.py``: ``Lab._URL_TEMPLATES``; ``start``/``stop``/``wipe`` (``PUT``,
  then ``check_if_converged`` while waiting: a JSON bool); ``state`` (a JSON string);
  ``details`` (``GET labs/{id}``); ``remove`` (``DELETE labs/{id}``); ``download``
  (``response.text``); ``_sync_topology`` (``params={"exclude_configurations": ...}``, a 404
  whose text holds ``Lab not found: <id>``); ``_import_lab`` (``lab["title"]``,
  ``["description"]``, ``["notes"]``, ``.get("owner")``); ``_handle_import_nodes`` /
  ``_import_node`` (node ``id``, ``label``, ``node_definition``, extra keys as ``Node``
  keyword arguments; interfaces ``id``, ``label``, ``type``, ``.get("slot")``,
  ``.get("mac_address")``); ``_handle_import_links`` (``id``, ``interface_a``,
  ``interface_b``, ``.get("label")``); ``_user_name`` (``GET users``: ``id``, ``username``).
- ``virl2_client/models/system.py``: ``SystemManagement.sync_compute_hosts`` (``GET
  system/compute_hosts``; each host's keys but ``id`` go to ``add_compute_host_local``, whose
  parameters are exactly hostname, server_address, is_connector, is_simulator, is_connected,
  is_synced, admission_state, node_counts and nodes).
- ``virl2_client/models/authentication.py``: ``CustomClient._request`` takes an error's
  message from ``json.loads(response.text)["description"]``.
"""

from __future__ import annotations

import json

from cmltui.demo.fake_cml import ADMIN_USER_ID
from cmltui.domain.clock import FrozenClock

# Keyword arguments virl2-client's Node() documents; anything else is ignored by it.
NODE_KEYWORDS = {
    "image_definition",
    "configuration",
    "x",
    "y",
    "ram",
    "cpus",
    "cpu_limit",
    "data_volume",
    "boot_disk_size",
    "hide_links",
    "tags",
    "resource_pool",
    "pinned_compute_id",
    "parameters",
}


async def test_lab_list_and_tiles_as_get_lab_list_and_find_labs_by_title_read_them(raw):
    worker, http, auth = await raw(labs=3, running_labs=1)
    # get_lab_list(show_all=True): httpx sends the bool as "true".
    ids = (await http.get("labs", params={"show_all": True}, headers=auth)).json()
    assert isinstance(ids, list) and all(isinstance(lab_id, str) for lab_id in ids)
    assert set(ids) == {lab.id for lab in worker.labs_snapshot()}
    tiles = (await http.get("populate_lab_tiles", headers=auth)).json()["lab_tiles"]
    assert {lab_id: tile["lab_title"] for lab_id, tile in tiles.items()} == {
        lab.id: lab.title for lab in worker.labs_snapshot()
    }


async def test_topology_as_join_existing_lab_and_sync_topology_read_it(raw):
    worker, http, auth = await raw(labs=2, running_labs=1)
    users = {
        user["id"]: user["username"] for user in (await http.get("users", headers=auth)).json()
    }
    for lab in worker.labs_snapshot():
        answer = await http.get(
            f"labs/{lab.id}/topology", params={"exclude_configurations": False}, headers=auth
        )
        topology = answer.json()
        lab_dict = topology["lab"]
        assert (lab_dict["title"], lab_dict["description"], lab_dict["notes"]) == (
            lab.title,
            "",
            "",
        )
        assert users[lab_dict.get("owner")] == lab.owner_username
        interface_ids = set()
        for node in topology["nodes"]:
            assert isinstance(node["id"], str) and node["label"] and node["node_definition"]
            extra = set(node) - {"id", "state", "lab_id", "boot_progress", "interfaces", "label"}
            assert extra - {"node_definition"} <= NODE_KEYWORDS
            for iface in node["interfaces"]:
                assert {"id", "label", "type"} <= set(iface)
                assert iface.get("slot") is None or isinstance(iface["slot"], int)
                interface_ids.add(iface["id"])
        for link in topology["links"]:
            assert {link["interface_a"], link["interface_b"]} <= interface_ids
            assert link["id"] and (link.get("label") is None or isinstance(link["label"], str))
        assert isinstance(topology.get("annotations", []), list)
        without = await http.get(
            f"labs/{lab.id}/topology", params={"exclude_configurations": True}, headers=auth
        )
        assert all("configuration" not in node for node in without.json()["nodes"])


async def test_lifecycle_as_lab_start_stop_wipe_remove_drive_it(raw):
    worker, http, auth = await raw(labs=1, running_labs=0, clock=FrozenClock(), evolve=False)
    lab_id = worker.labs_snapshot()[0].id
    for action, state in (("start", "STARTED"), ("stop", "STOPPED"), ("wipe", "DEFINED_ON_CORE")):
        answer = await http.put(f"labs/{lab_id}/{action}", headers=auth)
        assert answer.is_success and answer.content == b""
        assert (await http.get(f"labs/{lab_id}/check_if_converged", headers=auth)).json() is True
        assert (await http.get(f"labs/{lab_id}/state", headers=auth)).json() == state
    details = (await http.get(f"labs/{lab_id}", headers=auth)).json()
    assert details["id"] == lab_id and details["state"] == "DEFINED_ON_CORE"
    assert (await http.delete(f"labs/{lab_id}", headers=auth)).is_success
    gone = await http.get(f"labs/{lab_id}/topology", headers=auth)
    assert gone.status_code == 404 and f"Lab not found: {lab_id}" in gone.text


async def test_download_and_import_as_lab_download_and_import_lab_use_them(raw):
    worker, http, auth = await raw(labs=1, running_labs=1)
    lab = worker.labs_snapshot()[0]
    text = (await http.get(f"labs/{lab.id}/download", headers=auth)).text
    answer = await http.post("import", params={"title": "PCL copy"}, content=text, headers=auth)
    new_id = answer.json().get("id")
    assert new_id and new_id != lab.id
    joined = (await http.get(f"labs/{new_id}/topology", headers=auth)).json()
    assert joined["lab"]["title"] == "PCL copy" and joined["lab"]["owner"] == ADMIN_USER_ID
    assert [node["label"] for node in joined["nodes"]] == [node.label for node in lab.nodes]


async def test_error_bodies_carry_the_description_virl2_client_reports(raw):
    worker, http, auth = await raw(labs=1, running_labs=1)
    lab_id = worker.labs_snapshot()[0].id
    for answer in (
        await http.put(f"labs/{lab_id}/wipe", headers=auth),
        await http.delete(f"labs/{lab_id}", headers=auth),
        await http.get("labs/00000000-0000-4000-8000-000000000000", headers=auth),
        await http.post("import", content="lab: 1", headers=auth),
    ):
        assert 400 <= answer.status_code < 500
        assert json.loads(answer.text)["description"]


async def test_compute_hosts_as_sync_compute_hosts_reads_them(raw):
    worker, http, auth = await raw(labs=4, running_labs=2, computes=2)
    hosts = (await http.get("system/compute_hosts", headers=auth)).json()
    parameters = {
        "hostname",
        "server_address",
        "is_connector",
        "is_simulator",
        "is_connected",
        "is_synced",
        "admission_state",
        "node_counts",
        "nodes",
    }
    assert [set(host) - {"id"} for host in hosts] == [parameters, parameters]
    assert sum(host["is_connector"] for host in hosts) == 1
    labs = worker.labs_snapshot()
    # 2.9's node_counts (cml-api.md §3.5): running and total nodes per compute host.
    counts = [host["node_counts"] for host in hosts]
    assert sum(c["running_nodes"] for c in counts) == sum(lab.running_nodes for lab in labs)
    assert sum(c["total_nodes"] for c in counts) == sum(lab.node_count for lab in labs)
    assert all(
        set(c) == {"total_nodes", "total_orphans", "running_nodes", "running_orphans"}
        for c in counts
    )
    assert sorted(i for host in hosts for i in host["nodes"]) == sorted(
        node.id for lab in labs for node in lab.nodes
    )
