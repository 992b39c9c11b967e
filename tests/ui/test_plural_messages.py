"""Messages built with counts read right for one and for many (issue 15 #8)."""

from __future__ import annotations

from cmltui.ui.screens.acting import running_labs_question
from cmltui.ui.screens.confirm import Target, hidden_note
from cmltui.ui.widgets.header import FleetHeader
from tests.ui.fake_service import NOW, make_snapshot, totals_of


def test_running_labs_question_agrees_with_the_count():
    assert running_labs_question(0, 3) == ""
    assert running_labs_question(1, 2) == "1 of them has running labs; stopping ends those labs."
    assert running_labs_question(2, 3) == "2 of them have running labs; stopping ends those labs."
    assert running_labs_question(1, 1) == "It has running labs; stopping ends them."


def test_hidden_note_for_one_target_and_for_several():
    assert hidden_note([Target("a", hidden=True)]).startswith("It is hidden by the filter")
    several = hidden_note([Target("a", hidden=True), Target("b")])
    assert several.startswith("1 of these 2 is hidden by the filter")
    both = hidden_note([Target("a", hidden=True), Target("b", hidden=True)])
    assert both.startswith("2 of these 2 are hidden by the filter")


def test_header_counts_one_worker():
    header = FleetHeader(
        profile_label="p", regions=["us-east-1"], read_only=False, insecure_tls=False
    )
    header.totals = totals_of([make_snapshot(1)])
    assert "│  1 worker  ▶ 1 running" in header.render_text(NOW).plain
