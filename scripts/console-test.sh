#!/usr/bin/env bash
# The web console's tests: node's test runner on the pure modules, then the browser tests
# (headless Chromium from Debian through chromedriver, selenium from PyPI, pinned, in a
# venv under target/) against real `decnet serve` processes: memory runtime for the
# editor and the hostile-data checks, Docker for a real decoy's events in the feed.
# Screenshots are written to target/console-screenshots/. Called by scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "[console] node --test (pure modules)" >&2
node --test crates/api/console/test/

python="$(./scripts/console-venv.sh)"
cargo build --locked --quiet -p decnet
export DECNET_BIN="$PWD/target/debug/decnet"
export CONSOLE_SCREENSHOTS="$PWD/target/console-screenshots"
# Selenium must use Debian's chromedriver, never fetch a driver of its own.
export SE_OFFLINE=true
echo "[console] browser tests (headless Chromium)" >&2
"$python" -m unittest -v crates/api/console/test/browser_test.py
