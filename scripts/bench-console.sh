#!/usr/bin/env bash
# Benchmarks the web console in headless Chromium (first render of a 1,000-decky
# topology, frames per second while dragging, asset size) against a release `decnet
# serve`. Results in ${OUT:-./bench-out}/console/. Needs what scripts/console-test.sh
# installs (Chromium, chromedriver; selenium via scripts/console-venv.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/test-deps.sh
python="$(./scripts/console-venv.sh)"
cargo build --release --locked --quiet -p decnet
DECNET_BIN="$PWD/target/release/decnet" SE_OFFLINE=true OUT="${OUT:-$PWD/bench-out}" \
  "$python" scripts/bench-console.py
