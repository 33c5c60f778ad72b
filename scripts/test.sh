#!/usr/bin/env bash
# The README's test command: make (or reuse) a virtual environment, install, run the whole suite.
# VENV picks the environment's folder (default .venv); .ci/run points it at a fresh one.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
# The browser test drives Debian's Chromium (Playwright's own browser download does not work offline). Install it
# when it is missing and we can (root with apt-get, as in CI); otherwise that one test skips.
if [ ! -x /usr/bin/chromium ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing Debian's chromium for the browser test..."
  apt-get install -y -q chromium >/dev/null 2>&1 || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1; } \
    || echo "could not install chromium: the browser test will skip"
fi
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -r requirements.txt -r requirements-test.txt
exec "$VENV/bin/python" -m pytest -q "$@"
