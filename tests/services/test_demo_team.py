"""``cmltui --demo --team`` (issue 17): the demo's store is a DynamoDB table on its moto server,
created at start, so a second dashboard on the same config shares the fleet."""

from __future__ import annotations

from cmltui.config import load_config
from cmltui.demo.fleet import DemoFleet, team_hint
from cmltui.domain.enums import CMLWorkerStatus
from cmltui.wiring import build_runtime


async def test_two_runtimes_on_the_team_demo_share_one_table(tmp_path):
    with DemoFleet(
        workers=2, folder=tmp_path / "demo", put_cloudwatch_metrics=False, team=True
    ) as info:
        config, _, _ = load_config(info.config_path)
        assert config.store.backend == "dynamodb" and config.idle.auto_stop
        assert f"cmltui --config {info.config_path}" in team_hint(info.config_path)
        first = build_runtime(config, user="alice@jump1")
        second = build_runtime(config, user="bob@laptop")
        try:
            await first.controller.refresh_once()
            await second.controller.refresh_once()
            assert first.controller.current().policy_runner == first.controller.holder_id
            assert second.controller.current().policy_runner == first.controller.holder_id
            running = next(w for w in second.controller.workers() if w.status == "running")
            assert (await second.controller.stop_workers([running.id])).ok
            await first.controller.refresh_ec2()
            seen = next(w for w in first.controller.workers() if w.id == running.id)
            assert seen.status in (CMLWorkerStatus.STOPPING, CMLWorkerStatus.STOPPED)
            trail = first.controller.cached_trail(running.id) or []
            assert any(e.data.get("changed_by") == "bob@laptop" for e in trail)
        finally:
            await first.aclose()
            await second.aclose()
