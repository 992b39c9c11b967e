"""What headless commands print: names escaped visibly, times with their zone, no guessing.

Real ``cmltui`` processes on a real data file; no AWS is reached (the endpoint is dead and these
commands do not need it).
"""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from cmltui.domain.enums import CMLWorkerStatus
from tests.cli.helpers import offline_config, run_cmltui, seed_store

#: Remote names an operator could be fooled by: a terminal escape, a zero-width space, a bidi
#: override, a C1 CSI, a line break.
HOSTILE_NAMES = (
    "evil\x1b[2Jname",
    "cml-lab-01\u200b",
    "bidi\u202eeman",
    "c1\x9b31mred",
    "two\nlines",
)
RAW_UNSAFE = ("\x1b", "\u200b", "\u202e", "\x9b", "two\nlines")


def _done(result: subprocess.CompletedProcess[str]) -> str:
    """The worker name of a one-line result (``<action>: <name>``)."""
    (line,) = result.stdout.splitlines()
    return line.split(": ", 1)[1]


def _assert_nothing_raw(text: str) -> None:
    for raw in RAW_UNSAFE:
        assert raw not in text, f"{raw!r} printed raw"


def test_remote_names_print_escaped_in_list_events_results_and_errors(tmp_path):
    seed_store(tmp_path / "data", [*HOSTILE_NAMES, "cml-lab-01"])
    config = offline_config(tmp_path)

    listing = run_cmltui(tmp_path, "list", config=config)
    assert listing.returncode == 0, listing.stderr
    _assert_nothing_raw(listing.stdout + listing.stderr)
    for shown in ("evil\\x1b[2Jname", "cml-lab-01\\u200b", "bidi\\u202eeman", "c1\\x9b31mred"):
        assert shown in listing.stdout
    assert "two\\x0alines" in listing.stdout
    # The look-alike and the real name stay apart, one row each.
    rows = [line.split()[0] for line in listing.stdout.splitlines()[1:]]
    assert rows.count("cml-lab-01") == 1 and rows.count("cml-lab-01\\u200b") == 1

    events = run_cmltui(tmp_path, "events", config=config)
    assert events.returncode == 0, events.stderr
    _assert_nothing_raw(events.stdout + events.stderr)
    assert "evil\\x1b[2Jname" in events.stdout

    result = run_cmltui(tmp_path, "auto-stop", "off", "w0", config=config)
    assert result.returncode == 0, result.stderr
    _assert_nothing_raw(result.stdout + result.stderr)
    assert _done(result) == "evil\\x1b[2Jname"

    unknown = run_cmltui(tmp_path, "auto-stop", "off", "nobody\x1b[31m", config=config)
    assert unknown.returncode == 1
    _assert_nothing_raw(unknown.stdout + unknown.stderr)
    assert "no such worker: nobody\\x1b[31m" in unknown.stderr


def test_json_keeps_the_names_exact_and_ascii(tmp_path):
    seed_store(tmp_path / "data", HOSTILE_NAMES)
    listing = run_cmltui(tmp_path, "list", "--json", config=offline_config(tmp_path))
    assert listing.returncode == 0, listing.stderr
    assert listing.stdout.isascii()
    assert sorted(row["name"] for row in json.loads(listing.stdout)) == sorted(HOSTILE_NAMES)


def test_a_name_can_be_typed_as_it_is_printed(tmp_path):
    seed_store(tmp_path / "data", ["cml-lab-01", "cml-lab-01\u200b"])
    config = offline_config(tmp_path)
    escaped = run_cmltui(tmp_path, "auto-stop", "off", "cml-lab-01\\u200b", config=config)
    assert escaped.returncode == 0, escaped.stderr
    assert _done(escaped) == "cml-lab-01\\u200b"
    plain = run_cmltui(tmp_path, "auto-stop", "off", "cml-lab-01", config=config)
    assert plain.returncode == 0, plain.stderr
    assert _done(plain) == "cml-lab-01"


@pytest.mark.parametrize(
    ("names", "token"),
    [
        (["dup", "dup", "solo"], "dup"),
        (["Lab-A", "lab-a", "solo"], "lab-a"),  # equal under name_key (case-folded)
        (["ｄｕｐ", "dup", "solo"], "dup"),  # equal under name_key (NFKC: full-width letters)
        (["dup ", "dup", "solo"], "dup"),  # equal once trimmed
    ],
)
def test_an_ambiguous_name_exits_2_lists_the_candidates_and_changes_nothing(tmp_path, names, token):
    seed_store(tmp_path / "data", names)
    config = offline_config(tmp_path)
    before = (tmp_path / "data" / "cmltui.json").read_bytes()

    result = run_cmltui(tmp_path, "auto-stop", "off", token, config=config)

    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout == ""
    assert "could mean 2 workers" in result.stderr
    for worker_id, instance_id in (("w0", "i-00000000000000000"), ("w1", "i-00000000000000001")):
        assert f"id {worker_id}" in result.stderr and f"instance {instance_id}" in result.stderr
    assert "id w2" not in result.stderr
    assert "Traceback" not in result.stderr
    assert (tmp_path / "data" / "cmltui.json").read_bytes() == before
    events = run_cmltui(tmp_path, "events", token, config=config)
    assert events.returncode == 2 and "could mean 2 workers" in events.stderr

    # Ids and instance ids still pick exactly one.
    by_id = run_cmltui(tmp_path, "auto-stop", "off", "w1", config=config)
    assert by_id.returncode == 0, by_id.stderr
    by_instance = run_cmltui(tmp_path, "auto-stop", "off", "i-00000000000000000", config=config)
    assert by_instance.returncode == 0, by_instance.stderr
    assert (_done(by_id), _done(by_instance)) == (names[1], names[0])


def test_a_live_worker_wins_over_a_terminated_namesake(tmp_path):
    seed_store(tmp_path / "data", [("old", CMLWorkerStatus.TERMINATED), "old"])
    result = run_cmltui(tmp_path, "events", "old", "--json", config=offline_config(tmp_path))
    assert result.returncode == 0, result.stderr
    assert {event["subject"] for event in json.loads(result.stdout)} == {"w1"}


def test_times_carry_their_zone(tmp_path):
    seed_store(tmp_path / "data", ["zoned"])
    config = offline_config(tmp_path)
    text = run_cmltui(tmp_path, "events", config=config)
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines and all(
        re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ  zoned  ", line) for line in lines
    ), lines
    as_json = json.loads(run_cmltui(tmp_path, "events", "--json", config=config).stdout)
    assert all(e["time"].endswith(("Z", "+00:00")) for e in as_json)
    rows = json.loads(run_cmltui(tmp_path, "list", "--json", config=config).stdout)
    assert rows[0]["created_at"].endswith("+00:00") and rows[0]["updated_at"].endswith("+00:00")
