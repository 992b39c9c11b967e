"""Labs of a fake CML 2.9 controller: their topology, and the shapes CML serves them in.

Sources of the shapes (see ``../shared/spec/cml-api.md`` §4):

- ``GET labs/{id}``: CML 2.9's ``LabResponse`` (no ``node_counts``: that key belongs to compute
  hosts in 2.9, ``GET system/compute_hosts``).
- ``GET labs/{id}/download`` / ``POST import``: the topology YAML (schema 0.3.0 in 2.9): ``lab``
  {title, description, notes, version}, ``nodes`` with topology-local ids (``n0``, and ``i0``...
  per node), ``links`` {id, n1, n2, i1, i2, label, conditioning}, ``annotations``,
  ``smart_annotations``. Cisco's own mock of ``download`` (virlutils ``tests/v2/mocks/api.py``)
  answers raw YAML text, not a JSON string, and virl2-client's ``Lab.download`` returns
  ``response.text``.
- ``GET labs/{id}/topology``: ``TopologyResponse``, with UUIDs and links as
  ``interface_a``/``interface_b``/``node_a``/``node_b`` (what virl2-client's
  ``Lab._handle_import_links`` reads).

Everything here is pure: the worker (``lab_ops``) owns the lock, the clock and the events.
"""

from __future__ import annotations

import copy
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

#: The lab states of CML 2.9 (``States``); QUEUED/BOOTED/DISCONNECTED are node states only.
DEFINED_ON_CORE = "DEFINED_ON_CORE"
STOPPED = "STOPPED"
STARTED = "STARTED"
#: Node states that mean a running VM (what ``dominfo.running_nodes`` counts).
RUNNING_NODE_STATES = frozenset({"STARTED", "BOOTED"})
#: The schema version CML 2.9 writes, and every version its ``TopologySchemaVersion`` accepts.
TOPOLOGY_VERSION = "0.3.0"
TOPOLOGY_VERSIONS = frozenset(
    {"0.0.1", "0.0.2", "0.0.3", "0.0.4", "0.0.5", "0.1.0", "0.2.0", "0.2.1", "0.2.2", "0.3.0"}
)
#: ``LabTitle`` is 1 to 64 characters in CML 2.9.
MAX_TITLE_LENGTH = 64
#: Node definitions the fake controller has; importing another one succeeds with a warning.
NODE_DEFINITIONS = frozenset(
    {
        "alpine",
        "asav",
        "cat8000v",
        "csr1000v",
        "desktop",
        "external_connector",
        "iol-xe",
        "ioll2-xe",
        "iosv",
        "iosvl2",
        "iosxrv9000",
        "nxosv9000",
        "server",
        "ubuntu",
        "unmanaged_switch",
    }
)
_SEEDED_DEFINITIONS = ("iosv", "iosv", "iosvl2", "csr1000v", "alpine", "unmanaged_switch")
_PORT_LABELS = {
    "iosv": "GigabitEthernet0/{slot}",
    "iosvl2": "GigabitEthernet0/{slot}",
    "csr1000v": "GigabitEthernet{next}",
    "alpine": "eth{slot}",
    "unmanaged_switch": "port{slot}",
}
_LABEL_PREFIX = {"iosvl2": "SW", "alpine": "host", "unmanaged_switch": "ums"}


@dataclass
class FakeInterface:
    id: str  # UUID
    topo_id: str  # "i0", unique within its node
    label: str
    type: str  # "physical" | "loopback"
    slot: int | None = None


@dataclass
class FakeNode:
    id: str  # UUID
    topo_id: str  # "n0", unique within its lab
    label: str
    node_definition: str
    x: float
    y: float
    interfaces: list[FakeInterface] = field(default_factory=list)
    #: Every other topology key of the node (configuration, ram, tags...), kept as read.
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass
class FakeLink:
    id: str  # UUID
    topo_id: str  # "l0"
    node_a: str
    interface_a: str
    node_b: str
    interface_b: str
    label: str | None = None
    conditioning: dict[str, Any] = field(default_factory=dict)


@dataclass
class FakeLab:
    id: str
    title: str
    owner_id: str
    owner_username: str
    state: str
    created: datetime
    modified: datetime
    description: str = ""
    notes: str = ""
    nodes: list[FakeNode] = field(default_factory=list)
    links: list[FakeLink] = field(default_factory=list)
    annotations: list[Any] = field(default_factory=list)
    smart_annotations: list[Any] = field(default_factory=list)
    #: A start, stop or wipe still under way: (target state, when it completes).
    pending: tuple[str, datetime] | None = None

    @property
    def running(self) -> bool:
        return self.state == STARTED

    @property
    def node_count(self) -> int:
        return len(self.nodes)

    @property
    def link_count(self) -> int:
        return len(self.links)

    @property
    def converged(self) -> bool:
        return self.pending is None

    @property
    def node_state(self) -> str:
        """The state every node of the lab is in (the fake moves nodes together)."""
        if self.state == STARTED:
            starting = self.pending is not None and self.pending[0] == STARTED
            return "QUEUED" if starting else "BOOTED"
        return self.state

    @property
    def running_nodes(self) -> int:
        return self.node_count if self.node_state in RUNNING_NODE_STATES else 0


def iso(when: datetime | None) -> str | None:
    return None if when is None else when.astimezone(UTC).replace(microsecond=0).isoformat()


def snapshot(lab: FakeLab) -> FakeLab:
    return copy.deepcopy(lab)


# ---------------------------------------------------------------- seeded topology
def new_uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _default_fields(label: str, definition: str) -> dict[str, Any]:
    configuration = None if definition == "unmanaged_switch" else f"hostname {label}"
    return {
        "boot_disk_size": None,
        "configuration": configuration,
        "cpu_limit": None,
        "cpus": None,
        "data_volume": None,
        "hide_links": False,
        "image_definition": None,
        "parameters": {},
        "ram": None,
        "tags": [],
    }


def _add_port(node: FakeNode, rng: random.Random) -> FakeInterface:
    slot = sum(1 for iface in node.interfaces if iface.type == "physical")
    pattern = _PORT_LABELS.get(node.node_definition, "eth{slot}")
    port = FakeInterface(
        id=new_uuid(rng),
        topo_id=f"i{len(node.interfaces)}",
        label=pattern.format(slot=slot, next=slot + 1),
        type="physical",
        slot=slot,
    )
    node.interfaces.append(port)
    return port


def seed_topology(lab: FakeLab, node_count: int, link_count: int) -> None:
    """Nodes and links for a seeded lab, from a generator of its own (seeded by the lab id),
    so that the worker's random stream is the same whatever the topology holds."""
    rng = random.Random(f"topology:{lab.id}")
    counters: dict[str, int] = {}
    for index in range(node_count):
        definition = rng.choice(_SEEDED_DEFINITIONS)
        prefix = _LABEL_PREFIX.get(definition, "R")
        counters[prefix] = counters.get(prefix, 0) + 1
        label = f"{prefix}{counters[prefix]}"
        node = FakeNode(
            id=new_uuid(rng),
            topo_id=f"n{index}",
            label=label,
            node_definition=definition,
            x=(index % 4) * 160 - 240,
            y=(index // 4) * 120 - 60,
            fields=_default_fields(label, definition),
        )
        if definition in ("iosv", "csr1000v", "iosvl2"):
            node.interfaces.append(
                FakeInterface(id=new_uuid(rng), topo_id="i0", label="Loopback0", type="loopback")
            )
        lab.nodes.append(node)
    if len(lab.nodes) < 2:
        return
    for index in range(link_count):
        a = lab.nodes[index % len(lab.nodes)]
        b = lab.nodes[(index + 1) % len(lab.nodes)]
        port_a, port_b = _add_port(a, rng), _add_port(b, rng)
        lab.links.append(
            FakeLink(
                id=new_uuid(rng),
                topo_id=f"l{index}",
                node_a=a.id,
                interface_a=port_a.id,
                node_b=b.id,
                interface_b=port_b.id,
                label=f"{a.label}-{port_a.label}<->{b.label}-{port_b.label}",
            )
        )


# ---------------------------------------------------------------- JSON shapes
def lab_json(lab: FakeLab) -> dict[str, Any]:
    """``LabResponse`` of CML 2.9 (every key it has, nothing else)."""
    return {
        "id": lab.id,
        "lab_title": lab.title,
        "lab_description": lab.description,
        "lab_notes": lab.notes,
        "state": lab.state,
        "created": iso(lab.created),
        "modified": iso(lab.modified),
        "owner": lab.owner_id,
        "owner_username": lab.owner_username,
        "owner_fullname": lab.owner_username.title(),
        "node_count": lab.node_count,
        "link_count": lab.link_count,
        "groups": [],
        "effective_permissions": ["lab_admin", "lab_edit", "lab_exec", "lab_view"],
    }


def element_state(lab: FakeLab) -> dict[str, dict[str, str]]:
    """``LabElementStateResponse``: the state of every node, link and interface by id."""
    node_state = lab.node_state
    other = STARTED if lab.state == STARTED else lab.state
    return {
        "nodes": {node.id: node_state for node in lab.nodes},
        "links": {link.id: other for link in lab.links},
        "interfaces": {iface.id: other for node in lab.nodes for iface in node.interfaces},
    }


def _node_json(node: FakeNode, *, exclude_configurations: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": node.id,
        "label": node.label,
        "node_definition": node.node_definition,
        "x": node.x,
        "y": node.y,
    }
    body.update(copy.deepcopy(node.fields))
    if exclude_configurations:
        body.pop("configuration", None)
    body["interfaces"] = [
        {
            "id": iface.id,
            "node": node.id,
            "label": iface.label,
            "slot": iface.slot,
            "type": iface.type,
            "mac_address": None,
        }
        for iface in node.interfaces
    ]
    return body


def topology_json(lab: FakeLab, *, exclude_configurations: bool = False) -> dict[str, Any]:
    """``TopologyResponse`` of ``GET labs/{id}/topology`` (UUIDs, ``interface_a``...)."""
    return {
        "lab": {
            "version": TOPOLOGY_VERSION,
            "title": lab.title,
            "description": lab.description,
            "notes": lab.notes,
            "owner": lab.owner_id,
        },
        "nodes": [
            _node_json(node, exclude_configurations=exclude_configurations) for node in lab.nodes
        ],
        "links": [
            {
                "id": link.id,
                "interface_a": link.interface_a,
                "interface_b": link.interface_b,
                "node_a": link.node_a,
                "node_b": link.node_b,
                "label": link.label,
                "conditioning": copy.deepcopy(link.conditioning),
            }
            for link in lab.links
        ],
        "annotations": copy.deepcopy(lab.annotations),
        "smart_annotations": copy.deepcopy(lab.smart_annotations),
    }
