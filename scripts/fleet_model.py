"""The fleet model (tests/reliability/fleet_machine.py) for longer than CI runs it.

Starts moto's server and the fake CML server in this process (as the tests do), then runs
``FleetModel`` in batches of examples, each batch with its own seed (``--seed`` + batch number,
so a run is reproducible), until ``--examples`` examples have run or ``--seconds`` have passed.
A failing batch prints hypothesis's minimal failing program and the run goes on with the next
batch. At the end it prints the figures: examples (shrinking included), steps, checks made,
failures and seconds, and how often each kind of step ran.

Run: ``python scripts/fleet_model.py [--examples 1000] [--steps 40] [--seed 1] [--batch 50]``
(``--json`` for one JSON object). Exit code 0 when nothing failed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

#: The environment the test session gives moto's clients (no real account can be reached).
_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/cmltui-fleet-model/credentials",
    "AWS_CONFIG_FILE": "/nonexistent/cmltui-fleet-model/config",
    "AWS_EC2_METADATA_DISABLED": "true",
    "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",
}
_ENV_REMOVED = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL")
_PASSWORD_ENV = "CMLTUI_FLEET_MODEL_CML_PASSWORD"


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=1000, help="examples to run in all")
    parser.add_argument("--steps", type=int, default=40, help="steps per example (at most)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the first batch")
    parser.add_argument("--batch", type=int, default=50, help="examples per batch (one seed)")
    parser.add_argument("--seconds", type=float, default=None, help="stop after this long")
    parser.add_argument("--no-shrink", action="store_true", help="report failures unshrunk")
    parser.add_argument(
        "--shrink-seconds",
        type=float,
        default=900.0,
        help="how long hypothesis may shrink one failure (its own limit is 300 s; an example "
        "here costs about a second, so minimal programs take longer)",
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="check the known, unfixed defects (KNOWN_DEFECTS) instead of stepping around them",
    )
    parser.add_argument(
        "--check",
        action="append",
        default=[],
        metavar="DEFECT",
        help="check this known defect (repeatable; KNOWN_DEFECTS; fixed ones are always checked)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    for name, value in _ENV.items():
        os.environ[name] = value
    for name in _ENV_REMOVED:
        os.environ.pop(name, None)

    import boto3
    from hypothesis import HealthCheck, Phase, seed, settings
    from hypothesis.stateful import get_state_machine_test

    from cmltui.demo.fake_cml import DEMO_PASSWORD, FakeCmlServer
    from cmltui.demo.moto_server import MotoServer
    from tests.reliability.fleet_harness import Parts, Stats
    from tests.reliability.fleet_machine import FleetModel
    from tests.reliability.fleet_world import FIXED_DEFECTS, KNOWN_DEFECTS

    unknown = set(args.check) - KNOWN_DEFECTS - FIXED_DEFECTS
    if unknown:
        names = sorted(KNOWN_DEFECTS | FIXED_DEFECTS)
        print(f"unknown defects {sorted(unknown)}; the named ones: {names}", file=sys.stderr)
        return 2
    os.environ[_PASSWORD_ENV] = DEMO_PASSWORD
    from hypothesis.internal.conjecture import engine

    if hasattr(engine, "MAX_SHRINKING_SECONDS"):  # hypothesis's own cap, not public API
        engine.MAX_SHRINKING_SECONDS = args.shrink_seconds
    work_dir = Path(tempfile.mkdtemp(prefix="cmltui-fleet-model-"))
    moto = MotoServer().start()
    cml = FakeCmlServer(seed=args.seed).start()
    phases = [p for p in Phase if not (args.no_shrink and p == Phase.shrink)]
    failures: list[dict[str, object]] = []
    FleetModel.parts = Parts(
        moto=moto,
        cml=cml,
        session=boto3.Session(),
        ca_file=cml.write_ca_file(work_dir / "fake-cml-ca.pem"),
        password_env=_PASSWORD_ENV,
        work_dir=work_dir,
    )
    FleetModel.stats = stats = Stats()
    FleetModel.tolerate = frozenset() if args.strict else KNOWN_DEFECTS - set(args.check)
    started = time.perf_counter()
    batches = 0
    try:
        while stats.examples < args.examples:
            if args.seconds is not None and time.perf_counter() - started >= args.seconds:
                break
            batch_seed = args.seed + batches
            batches += 1
            test = get_state_machine_test(
                FleetModel,
                settings=settings(
                    max_examples=min(args.batch, args.examples - stats.examples),
                    stateful_step_count=args.steps,
                    deadline=None,
                    database=None,
                    phases=phases,
                    print_blob=False,
                    suppress_health_check=list(HealthCheck),
                ),
            )
            try:
                seed(batch_seed)(test)()
            except Exception as err:
                # Hypothesis raises an ExceptionGroup when it found several distinct failures.
                found = err.exceptions if isinstance(err, BaseExceptionGroup) else (err,)
                for one in found:
                    text = f"{type(one).__name__}: {one}"
                    program = "\n".join(getattr(one, "__notes__", []))
                    failures.append({"seed": batch_seed, "error": text, "program": program})
                    if not args.json:
                        print(f"--- failure (batch seed {batch_seed}) ---\n{text}\n{program}\n")
    finally:
        FleetModel.parts = None
        cml.stop()
        moto.stop()
        shutil.rmtree(work_dir, ignore_errors=True)
    seconds = time.perf_counter() - started
    figures = {
        "examples": stats.examples,
        "steps": stats.steps,
        "checks": stats.checks,
        "failures": len(failures),
        "seconds": round(seconds, 1),
        "batches": batches,
        "first_seed": args.seed,
        "steps_per_example_max": args.steps,
        "known_defects_checked": sorted(KNOWN_DEFECTS - FleetModel.tolerate),
        "steps_by_kind": dict(sorted(stats.rules.items())),
        "reached": dict(sorted(stats.seen.items())),
    }
    if args.json:
        print(json.dumps({**figures, "failed": failures}, indent=2))
    else:
        width = max(len(k) for k in figures)
        for key, value in figures.items():
            print(f"{key:<{width}}  {value}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
