"""In the demo, a worker created in the dashboard (``n``) gets a CML controller as the others
have (issue 15 #10): the fake CML serves new instances, booting ("starting") then available.
Before, it answered 404 for any instance the demo had not created itself."""

from __future__ import annotations

import asyncio

from cmltui.config import load_config
from cmltui.demo.fleet import DemoFleet
from cmltui.domain.enums import CMLServiceStatus, CMLWorkerStatus
from cmltui.wiring import build_runtime

BOOT_SECONDS = 0.5


async def test_a_worker_created_in_the_demo_becomes_ready(tmp_path):
    with DemoFleet(
        workers=1,
        folder=tmp_path / "demo",
        put_cloudwatch_metrics=False,
        new_worker_boot_seconds=BOOT_SECONDS,
    ) as info:
        config, _, _ = load_config(info.config_path)
        runtime = build_runtime(config, user="tester")
        controller = runtime.controller
        try:
            await controller.load()
            result = await controller.create_worker("made-in-demo", config.regions[0])
            assert result.ok, result.summary()
            await controller.refresh_ec2()
            await controller.refresh_cml()
            created = next(s for s in controller.workers() if s.name == "made-in-demo")
            assert created.status == CMLWorkerStatus.RUNNING
            # Booting: CML says "not ready" (no 404 error), as a new controller does.
            assert created.service_status == CMLServiceStatus.STARTING
            assert created.last_error is None
            await asyncio.sleep(BOOT_SECONDS + 0.2)
            await controller.refresh_cml()
            ready = next(s for s in controller.workers() if s.name == "made-in-demo")
            assert ready.service_status == CMLServiceStatus.AVAILABLE
            assert ready.cml_version == "2.9.0" and ready.last_error is None
        finally:
            await controller.stop()
            runtime.store.close()
