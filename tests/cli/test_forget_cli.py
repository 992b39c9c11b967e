"""Issue 15 item 15: ``cmltui forget NAME...`` in a real child process: a terminated worker's
record leaves the data file, its events stay in the audit trail; any other worker is refused
in one clear line."""

from __future__ import annotations

from cmltui.domain.enums import CMLWorkerStatus
from cmltui.store import open_store
from tests.cli.helpers import offline_config, run_cmltui, seed_store


def test_forget_removes_only_terminated_records_and_keeps_their_events(tmp_path):
    seed_store(
        tmp_path / "data",
        [
            ("old-lab", CMLWorkerStatus.TERMINATED),
            "live-lab",
            ("gone-too", CMLWorkerStatus.TERMINATED),
        ],
    )
    with open_store(tmp_path / "data", read_only=True) as before:
        trail_before = len(before.events("w0"))
        assert trail_before > 0
    config = offline_config(tmp_path)

    result = run_cmltui(tmp_path, "forget", "old-lab", "live-lab", config=config)

    assert result.returncode == 1, result.stderr
    assert "forget: old-lab" in result.stdout
    refusal = [line for line in result.stderr.splitlines() if "live-lab" in line]
    assert refusal == [
        "forget refused or failed: live-lab: it is running, not terminated; only a terminated "
        "worker's record can be forgotten (terminate it first)"
    ]
    assert "Traceback" not in result.stderr
    with open_store(tmp_path / "data", read_only=True) as after:
        assert sorted(w.name for w in after.all_workers()) == ["gone-too", "live-lab"]
        assert len(after.events("w0")) == trail_before  # the audit trail keeps them

    # All terminated ones asked for: exit 0; an unknown name: exit 1, nothing forgotten.
    assert run_cmltui(tmp_path, "forget", "gone-too", config=config).returncode == 0
    unknown = run_cmltui(tmp_path, "forget", "no-such-lab", config=config)
    assert unknown.returncode == 1 and "no-such-lab" in unknown.stderr
    with open_store(tmp_path / "data", read_only=True) as after:
        assert [w.name for w in after.all_workers()] == ["live-lab"]
        assert after.events("w2")
