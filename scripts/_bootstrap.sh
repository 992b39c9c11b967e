# Sourced by scripts/demo and scripts/test: makes .venv on first use and keeps it in step with
# pyproject.toml (a stamp of its hash decides whether pip has to run again).
set -euo pipefail
extras="$1"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
python_bin="${PYTHON:-python3}"
if ! "$python_bin" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "cmltui needs Python 3.11 or newer (found: $("$python_bin" --version 2>&1))" >&2
    exit 2
fi
if [ ! -x .venv/bin/python ]; then
    echo "Creating .venv (first use)..." >&2
    "$python_bin" -m venv .venv
fi
stamp=".venv/.cmltui-installed-$extras"
want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "Installing cmltui[$extras] into .venv..." >&2
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip >&2
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[$extras]" >&2
    echo "$want" > "$stamp"
fi
