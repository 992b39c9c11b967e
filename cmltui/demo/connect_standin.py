"""The demo's connect command. The demo's workers are moto records, not machines one could ssh
to (their public IPs are made up: ssh would wait minutes for a timeout), so ``C`` in
``cmltui --demo`` runs this instead: it says what a real ``[connect] command`` would run for the
worker and waits for Enter. ``cmltui --demo --config FILE`` uses FILE's ``[connect]`` instead.

Run as ``python -m cmltui.demo.connect_standin NAME USERNAME HOST``.
"""

from __future__ import annotations

import sys

from cmltui.domain.names import visible


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: python -m cmltui.demo.connect_standin NAME USERNAME HOST", file=sys.stderr)
        return 2
    name, username, host = (visible(value) for value in argv)
    print(f"cmltui demo: {name} is a simulated worker, there is no machine to connect to.")
    print(f"On a real fleet, C runs your [connect] command; the default is: ssh {username}@{host}")
    print("(cmltui --demo --config FILE uses the [connect] section of FILE.)")
    try:
        input("Press Enter to return to the dashboard... ")
    except (EOFError, KeyboardInterrupt):
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
