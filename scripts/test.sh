#!/usr/bin/env bash
# The README's test command: make (or reuse) a virtual environment, install, run the whole suite.
# VENV picks the environment's folder (default .venv); .ci/run points it at a fresh one.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -r requirements.txt -r requirements-test.txt
exec "$VENV/bin/python" -m pytest -q "$@"
