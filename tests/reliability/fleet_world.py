"""The world of the fleet model (``fleet_machine.FleetModel``): EC2 as moto says it, the
regions and managed tag it uses, the defects it knows, and the names a colleague gives."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from cmltui.config import AwsConfig
from tests.fixtures.moto_fixtures import MOTO_REGIONS

REGIONS = MOTO_REGIONS
MANAGED_KEY = AwsConfig().managed_tag_key

# ---------------------------------------------------------------------------- known defects
# Defects this machine found (each has its own test in test_fleet_model.py). A defect that is
# found and not yet fixed goes in KNOWN_DEFECTS (its test strict-xfail): the machine then steps
# around it, so that CI keeps guarding everything else, and ``scripts/fleet_model.py --strict``
# (or ``--check NAME``) looks for it again. Once fixed it moves to FIXED_DEFECTS: checked always.
#: An action given the same worker twice raises ActionRefusedError after the AWS call.
REPEATED_ID = "action-given-a-worker-twice"
#: discover() offers a copy terminated since the last refresh (stale conflict).
DISCOVER_TERMINATED = "discover-offers-a-terminated-copy"
#: discover() offers one instance twice (a copy that lost its managed tag since the last refresh).
DISCOVER_TWICE = "discover-offers-an-instance-twice"
#: discover() offers a detached worker's own instance as importable (import then refuses it).
DISCOVER_BOUND = "discover-offers-a-bound-instance-as-importable"
#: Defects the machine found, now fixed (kept named so a regression reads as what it is).
FIXED_DEFECTS = frozenset({REPEATED_ID, DISCOVER_TERMINATED, DISCOVER_TWICE, DISCOVER_BOUND})
KNOWN_DEFECTS: frozenset[str] = frozenset()

# ---------------------------------------------------------------------------- names
BASE_NAMES = ("cml-lab-01", "cml-lab-02", "Lab-A")
#: How a colleague's name can look: blank, odd, or like another one.
NAME_VARIANTS: dict[str, Callable[[str], str | None]] = {
    "plain": lambda n: n,
    "no Name tag": lambda n: None,
    "empty": lambda n: "",
    "blank": lambda n: "   ",
    "ideographic space": lambda n: "\u3000",
    "upper case": lambda n: n.upper(),
    "lower case": lambda n: n.lower(),
    "trailing spaces": lambda n: n + "  ",
    "leading space": lambda n: " " + n,
    "zero-width space": lambda n: n + "\u200b",
    "zero-width joiner inside": lambda n: n[:3] + "\u200d" + n[3:],
    "bidi override": lambda n: "\u202e" + n,
    "C1 CSI": lambda n: n + "\x9b31m",
    "tab inside": lambda n: n[:3] + "\t" + n[3:],
    "line separator": lambda n: n + "\u2028x",
    "fullwidth": lambda n: "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in n),
}
#: A name: one of a few bases (so that look-alikes meet), sometimes numbered (a name no live
#: worker has yet), in one of the variants.
names = st.builds(
    lambda base, number, variant: NAME_VARIANTS[variant](
        base if number is None else f"{base}-{number}"
    ),
    st.sampled_from(BASE_NAMES),
    st.none() | st.integers(min_value=2, max_value=99),
    st.sampled_from(list(NAME_VARIANTS)),
)
#: Index into a list that shrinks towards its first element.
picks = st.integers(min_value=0, max_value=63)
subsets = st.lists(picks, max_size=4)


# ---------------------------------------------------------------------------- EC2 as moto says
@dataclass(frozen=True)
class Instance:
    """One instance as moto describes it (the truth the checks compare against)."""

    id: str
    region: str
    state: str
    tags: dict[str, str]

    @property
    def managed(self) -> bool:
        return self.tags.get(MANAGED_KEY) == "true"


def describe_all(clients: dict[str, Any]) -> dict[str, Instance]:
    """Every instance in every region, terminated ones included."""
    found: dict[str, Instance] = {}
    for region, ec2 in clients.items():
        for page in ec2.get_paginator("describe_instances").paginate():
            for reservation in page.get("Reservations", []):
                for raw in reservation.get("Instances", []):
                    tags = {t["Key"]: t["Value"] for t in raw.get("Tags", [])}
                    found[raw["InstanceId"]] = Instance(
                        raw["InstanceId"], region, raw["State"]["Name"], tags
                    )
    return found


def states_by_id(clients: dict[str, Any], ids_by_region: dict[str, list[str]]) -> dict[str, str]:
    """EC2 state of each instance, asked by id (an id EC2 does not know is left out)."""
    states: dict[str, str] = {}
    for region, ids in ids_by_region.items():
        if not ids:
            continue
        reply = clients[region].describe_instances(InstanceIds=sorted(set(ids)))
        for reservation in reply.get("Reservations", []):
            for raw in reservation.get("Instances", []):
                states[raw["InstanceId"]] = raw["State"]["Name"]
    return states
