"""The header names the cmltui that applies the automatic policies (issue 17 #2): another
process's lease holder by name, this one as "this cmltui", nothing when nobody holds it."""

from __future__ import annotations

from cmltui.ui.widgets.header import FleetHeader
from tests.ui.fake_service import NOW, make_snapshot, totals_of


def _header() -> FleetHeader:
    header = FleetHeader(
        profile_label="team", regions=["us-east-1"], read_only=False, insecure_tls=False
    )
    header.totals = totals_of([make_snapshot(1)])
    return header


def test_another_process_holds_the_lease():
    header = _header()
    header.policy_runner, header.policy_runner_is_me = "alice@jump1:4242", False
    first_line = header.render_text(NOW).plain.splitlines()[0]
    assert "policy runner alice@jump1:4242" in first_line


def test_this_process_holds_it_and_nobody_does():
    header = _header()
    header.policy_runner, header.policy_runner_is_me = "bob@laptop:1", True
    assert "policy runner this cmltui" in header.render_text(NOW).plain
    header.policy_runner, header.policy_runner_is_me = None, False
    assert "policy runner" not in header.render_text(NOW).plain
