#!/usr/bin/env bash
# Runs the whole test suite (unit, property, store, engine and end-to-end CLI tests).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --locked "$@"
