"""``python -m cmltui.demo.fake_cml``: run the fake CML server standalone until interrupted."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path

from cmltui.demo.fake_cml import DEMO_LICENSE_TOKEN, DEMO_PASSWORD, DEMO_USERNAME, FakeCmlServer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cmltui.demo.fake_cml", description=__doc__)
    parser.add_argument("--workers", type=int, default=4, help="number of workers (default 4)")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: any)")
    parser.add_argument("--ca-file", type=Path, help="write the server's CA certificate here")
    parser.add_argument("--seed", type=int, default=0, help="seed of the simulation")
    args = parser.parse_args(argv)

    # Installed before the URL is printed: whoever reads it may stop us at once.
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    server = FakeCmlServer(port=args.port, seed=args.seed).start()
    endpoints = {}
    for index in range(1, args.workers + 1):
        key = f"worker-{index}"
        server.add_worker(key, labs=2 + index % 4, running_labs=index % 3, licensed=index % 4 != 0)
        endpoints[key] = server.base_url_for(key)
    if args.ca_file:
        server.write_ca_file(args.ca_file)
    print(
        json.dumps(
            {
                "url": server.url,
                "ca_file": str(args.ca_file) if args.ca_file else None,
                "username": DEMO_USERNAME,
                "password": DEMO_PASSWORD,
                "demo_license_token": DEMO_LICENSE_TOKEN,
                "endpoints": endpoints,
            }
        ),
        flush=True,
    )
    try:
        stopped.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
