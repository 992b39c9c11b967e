"""Topology YAML of a fake controller: what ``GET labs/{id}/download`` answers and what
``POST import`` accepts (CML 2.9 topology schema 0.3.0; see ``labs`` for the sources).

A downloaded lab imports as an equal lab: the YAML keeps topology-local ids (``n0``, ``i0``,
``l0``) and every node key as read, so downloading the imported lab gives the same text.
"""

from __future__ import annotations

import copy
import random
from datetime import datetime
from typing import Any

import yaml

from cmltui.demo.fake_cml.labs import (
    DEFINED_ON_CORE,
    NODE_DEFINITIONS,
    TOPOLOGY_VERSION,
    TOPOLOGY_VERSIONS,
    FakeInterface,
    FakeLab,
    FakeLink,
    FakeNode,
    new_uuid,
)


class TopologyRejected(ValueError):
    """An import CML would refuse: ``str(err)`` is the 400 answer's description."""


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (configurations, notes) as ``|`` blocks, as CML writes them."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def topology_yaml(lab: FakeLab) -> str:
    """The lab as ``GET labs/{id}/download`` answers it: topology-local ids, no UUIDs."""
    by_uuid = {node.id: node for node in lab.nodes}
    iface_topo = {iface.id: iface.topo_id for node in lab.nodes for iface in node.interfaces}
    nodes = []
    for node in lab.nodes:
        entry: dict[str, Any] = dict(copy.deepcopy(node.fields))
        entry.update(
            id=node.topo_id,
            label=node.label,
            node_definition=node.node_definition,
            x=node.x,
            y=node.y,
        )
        entry = {key: entry[key] for key in sorted(entry)}
        entry["interfaces"] = [
            {"id": iface.topo_id, "label": iface.label}
            | ({"slot": iface.slot} if iface.slot is not None else {})
            | {"type": iface.type}
            for iface in node.interfaces
        ]
        nodes.append(entry)
    links = [
        {
            "id": link.topo_id,
            "n1": by_uuid[link.node_a].topo_id,
            "n2": by_uuid[link.node_b].topo_id,
            "i1": iface_topo[link.interface_a],
            "i2": iface_topo[link.interface_b],
            "conditioning": copy.deepcopy(link.conditioning),
            "label": link.label,
        }
        for link in lab.links
    ]
    document = {
        "annotations": copy.deepcopy(lab.annotations),
        "lab": {
            "description": lab.description,
            "notes": lab.notes,
            "title": lab.title,
            "version": TOPOLOGY_VERSION,
        },
        "links": links,
        "nodes": nodes,
        "smart_annotations": copy.deepcopy(lab.smart_annotations),
    }
    return yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=4096)


def _text(value: Any, what: str, *, required: bool = True, limit: int = 64) -> str:
    if value is None and not required:
        return ""
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or (required and not value) or len(value) > limit:
        raise TopologyRejected(f"Invalid topology: {what} must be a string of 1 to {limit} chars")
    return value


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TopologyRejected(f"Invalid topology: {what} must be a number")
    return value


def _mapping(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TopologyRejected(f"Invalid topology: {what} must be a mapping")
    return value


def _sequence(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise TopologyRejected(f"Invalid topology: {what} must be a list")
    return value


def parse_topology(text: str) -> dict[str, Any]:
    """The YAML (or JSON) document of an import, checked as CML checks it, or
    ``TopologyRejected`` with the description of CML's 400 answer."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise TopologyRejected(f"Invalid topology: not valid YAML{where}") from None
    document = _mapping(document, "the document")
    lab = _mapping(document.get("lab"), "'lab'")
    version = lab.get("version")
    if not isinstance(version, str) or version not in TOPOLOGY_VERSIONS:
        raise TopologyRejected(f"Invalid topology: unsupported schema version {version!r}")
    _sequence(document.get("nodes"), "'nodes'")
    _sequence(document.get("links", []), "'links'")
    for key in ("annotations", "smart_annotations"):
        _sequence(document.get(key, []), f"'{key}'")
    return document


def lab_from_topology(
    document: dict[str, Any],
    *,
    lab_id: str,
    title: str,
    owner_id: str,
    owner_username: str,
    now: datetime,
) -> tuple[FakeLab, list[str]]:
    """A new DEFINED_ON_CORE lab from a checked document, with the import's warnings."""
    rng = random.Random(f"import:{lab_id}")
    source = document["lab"]
    lab = FakeLab(
        id=lab_id,
        title=title,
        owner_id=owner_id,
        owner_username=owner_username,
        state=DEFINED_ON_CORE,
        created=now,
        modified=now,
        description=_text(source.get("description"), "description", required=False, limit=4096),
        notes=_text(source.get("notes"), "notes", required=False, limit=32768),
        annotations=copy.deepcopy(document.get("annotations", [])),
        smart_annotations=copy.deepcopy(document.get("smart_annotations", [])),
    )
    warnings: list[str] = []
    nodes: dict[str, FakeNode] = {}
    labels: set[str] = set()
    for raw in document["nodes"]:
        raw = _mapping(raw, "a node")
        topo_id = _text(raw.get("id"), "node id")
        if topo_id in nodes:
            raise TopologyRejected(f"Invalid topology: duplicate node id '{topo_id}'")
        label = _text(raw.get("label"), f"label of node '{topo_id}'", limit=128)
        if label in labels:
            raise TopologyRejected(f"Invalid topology: duplicate node label '{label}'")
        labels.add(label)
        definition = _text(raw.get("node_definition"), f"node_definition of '{label}'")
        if definition not in NODE_DEFINITIONS:
            warnings.append(f"Node definition `{definition}` of node `{label}` is not available.")
        node = FakeNode(
            id=new_uuid(rng),
            topo_id=topo_id,
            label=label,
            node_definition=definition,
            x=_number(raw.get("x"), f"x of '{label}'"),
            y=_number(raw.get("y"), f"y of '{label}'"),
            fields={
                key: copy.deepcopy(value)
                for key, value in raw.items()
                if key not in ("id", "label", "node_definition", "x", "y", "interfaces")
            },
        )
        for iface_raw in _sequence(raw.get("interfaces", []), f"interfaces of '{label}'"):
            iface_raw = _mapping(iface_raw, f"an interface of '{label}'")
            iface_id = _text(iface_raw.get("id"), f"interface id of '{label}'")
            if any(iface.topo_id == iface_id for iface in node.interfaces):
                raise TopologyRejected(f"Invalid topology: duplicate interface '{iface_id}'")
            kind = iface_raw.get("type")
            if kind not in ("physical", "loopback"):
                raise TopologyRejected(f"Invalid topology: interface type {kind!r}")
            slot = iface_raw.get("slot")
            if slot is not None and (isinstance(slot, bool) or not isinstance(slot, int)):
                raise TopologyRejected("Invalid topology: an interface slot must be an integer")
            node.interfaces.append(
                FakeInterface(
                    id=new_uuid(rng),
                    topo_id=iface_id,
                    label=_text(iface_raw.get("label", iface_id), "interface label", limit=128),
                    type=kind,
                    slot=slot,
                )
            )
        nodes[topo_id] = node
    lab.nodes = list(nodes.values())
    connected: set[str] = set()
    for raw in document.get("links", []):
        raw = _mapping(raw, "a link")
        ends = []
        for node_key, iface_key in (("n1", "i1"), ("n2", "i2")):
            node_ref = raw.get(node_key)
            end = nodes.get(node_ref) if isinstance(node_ref, str) else None
            iface = next(
                (i for i in (end.interfaces if end else []) if i.topo_id == raw.get(iface_key)),
                None,
            )
            if end is None or iface is None:
                raise TopologyRejected(
                    f"Invalid topology: link {raw.get('id')!r} names an unknown node or interface"
                )
            if iface.id in connected:
                raise TopologyRejected(
                    f"Invalid topology: interface {iface.label} of {end.label} is linked twice"
                )
            connected.add(iface.id)
            ends.append((end, iface))
        link_label = raw.get("label")
        lab.links.append(
            FakeLink(
                id=new_uuid(rng),
                topo_id=_text(raw.get("id"), "link id"),
                node_a=ends[0][0].id,
                interface_a=ends[0][1].id,
                node_b=ends[1][0].id,
                interface_b=ends[1][1].id,
                label=link_label if isinstance(link_label, str) else None,
                conditioning=copy.deepcopy(_mapping(raw.get("conditioning", {}), "conditioning")),
            )
        )
    return lab, warnings


def default_title(now: datetime) -> str:
    """The title CML gives a lab imported without one ("Lab at Mon 17:27 PM")."""
    return f"Lab at {now.strftime('%a %H:%M %p')}"
