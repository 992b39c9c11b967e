"""A child process for the lock and crash tests (run as ``python -m tests.store.stream_writer``).

``probe DATA_DIR``: open the store, try one write, print a JSON report, exit.
``stream DATA_DIR N``: keep writing cycles forever. Each cycle moves every one of N workers to
the endpoint ``https://w/<cycle>`` (a lifecycle event, never dropped by retention) and stores
``cycle`` in meta, all in one write. Prints ``ready`` after the first write.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from cmltui.domain.enums import CMLWorkerStatus
from cmltui.store import StoreReadOnlyError, open_store
from tests.fixtures.workers import make_worker

PENDING = CMLWorkerStatus.PENDING


def probe(data_dir: Path) -> None:
    store = open_store(data_dir)
    report = {"read_only": store.read_only, "notices": store.notices, "write_refused": False}
    try:
        store.set_meta("probe", 1)
    except StoreReadOnlyError as err:
        report["write_refused"] = True
        report["error"] = str(err)
    store.close()
    print(json.dumps(report), flush=True)


def stream(data_dir: Path, worker_count: int) -> None:
    store = open_store(data_dir)
    if store.read_only:
        print("read-only", flush=True)
        return
    workers = store.all_workers() or [
        make_worker(worker_id=f"w{i:03d}", name=f"crash-{i}", status=PENDING, observed=False)
        for i in range(worker_count)
    ]
    cycle = store.get_meta("cycle", 0)
    announced = False
    while True:
        cycle += 1
        for worker in workers:
            worker.update_endpoint(f"https://w/{cycle}")
        store.save_many(workers, meta={"cycle": cycle})
        if not announced:
            print("ready", flush=True)
            announced = True


if __name__ == "__main__":
    command, folder = sys.argv[1], Path(sys.argv[2])
    if command == "probe":
        probe(folder)
    else:
        stream(folder, int(sys.argv[3]))
