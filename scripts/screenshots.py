"""Render the dashboard on the demo fleet into screenshots/ (SVG and PNG), at 120x35.

The clock is frozen and the demo's seed fixed, so the pictures only change when the UI does
(moto still picks its own instance ids). Run: ``python scripts/screenshots.py [--out DIR]``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cmltui.config import load_config  # noqa: E402
from cmltui.demo.fleet import DemoFleet  # noqa: E402
from cmltui.domain.clock import FrozenClock  # noqa: E402
from cmltui.ui.app import CmlTuiApp  # noqa: E402
from cmltui.ui.screens.labs import LabsScreen  # noqa: E402
from cmltui.wiring import build_runtime  # noqa: E402

SIZE = (120, 35)
SEED = 7
WORKERS = 12
#: Refreshes after the first two, each this many minutes apart: uptime, idle time and the
#: history sparklines then show something.
HISTORY_REFRESHES = 8
HISTORY_STEP_MINUTES = 5
#: (file stem, keys pressed from the main view, keys that close it again)
SHOTS: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("main", ("j",), ()),
    # cml-lab-09: labs running, some load.
    ("detail", ("j",) * 7 + ("enter",), ("escape",)),
    ("terminate", ("ctrl+d",), ("escape",)),
    ("new-worker", ("n", *"lab-team-b"), ("escape",)),
    ("help", ("question_mark",), ("escape",)),
    # cml-lab-01: labs of several owners, some running; then stopping it asks about them.
    ("labs", ("g", "L"), ("escape",)),
    ("stop-running-labs", ("g", "S"), ("escape",)),
)


async def steady(pilot) -> None:
    await pilot.app.workers.wait_for_complete()
    await labs_read(pilot)
    for screen in pilot.app.screen_stack:
        for widget in screen.query("Input"):
            widget.cursor_blink = False
    await pilot.pause()
    await pilot.pause()


async def labs_read(pilot) -> None:
    """On the labs screen: until its session's first answer is on screen."""
    screen = pilot.app.screen
    if not isinstance(screen, LabsScreen):
        return
    for _ in range(200):
        if screen.last_update is not None and screen.last_update.loaded:
            return
        await pilot.pause(0.05)
    raise SystemExit("the labs screen never got its labs")


#: cairosvg hands "Fira Code, monospace" to cairo as one family name, finds no such font and
#: falls back to a proportional one, which ignores the SVG's cell grid (words run together,
#: columns drift). Name a monospace font the machine has instead, for the PNG only.
_SVG_FONT = "font-family: Fira Code, monospace;"
PNG_FONT = "font-family: DejaVu Sans Mono;"


def to_png(svg_path: Path) -> Path:
    import cairosvg

    png_path = svg_path.with_suffix(".png")
    svg = svg_path.read_text(encoding="utf-8").replace(_SVG_FONT, PNG_FONT)
    cairosvg.svg2png(bytestring=svg.encode("utf-8"), write_to=str(png_path))
    return png_path


async def render(out_dir: Path, only: set[str] | None = None) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    with DemoFleet(workers=WORKERS, seed=SEED) as info:
        config, _, _ = load_config(info.config_path)
        clock = FrozenClock(datetime.now(UTC).replace(microsecond=0))
        runtime = build_runtime(config, clock=clock)
        # Two passes: EC2 first, then CML telemetry for the instances EC2 reported.
        await runtime.controller.refresh_once()
        await runtime.controller.refresh_once()
        for _ in range(HISTORY_REFRESHES):
            clock.advance(minutes=HISTORY_STEP_MINUTES)
            await runtime.controller.refresh_once()
        app = CmlTuiApp(
            runtime.controller,
            config=config,
            aws_profile_label="demo",
            read_only=False,
            clock=clock,
            log_path=out_dir.parent / ".screenshots.log",
        )
        try:
            async with app.run_test(size=SIZE) as pilot:
                await steady(pilot)
                for stem, keys, close_keys in SHOTS:
                    if only and stem not in only:
                        continue
                    await pilot.press(*keys)
                    await steady(pilot)
                    svg = Path(app.save_screenshot(filename=f"{stem}.svg", path=str(out_dir)))
                    written += [svg, to_png(svg)]
                    if close_keys:
                        await pilot.press(*close_keys)
                        await steady(pilot)
        finally:
            await runtime.aclose()
            (out_dir.parent / ".screenshots.log").unlink(missing_ok=True)
    return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "screenshots"))
    parser.add_argument(
        "--only", metavar="NAMES", help="comma-separated shots to render (default: all)"
    )
    args = parser.parse_args()
    only = set(args.only.split(",")) if args.only else None
    for path in asyncio.run(render(Path(args.out), only)):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
