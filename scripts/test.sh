#!/usr/bin/env bash
# Runs the whole test suite (unit, property, store on SQLite and on a throwaway PostgreSQL
# server, engine, API over HTTP, Docker-backed and end-to-end CLI tests, then schemathesis
# against the served OpenAPI document, then the web console's node and headless-Chromium
# tests) and closes with one summary line. Needs a running Docker Engine, node and python3
# (schemathesis and selenium are installed from PyPI into target/).
set -uo pipefail
cd "$(dirname "$0")/.."
log="$(mktemp)"
# Real clients and nmap for the decoy tests (Debian packages, installed when missing).
./scripts/test-deps.sh
# The Docker-backed tests run the real decoy image, built from the static binary.
if [[ -z "${DECNET_DECOY_BIN:-}" ]]; then
  DECNET_DECOY_BIN="$(./scripts/build-decoy.sh)"
  export DECNET_DECOY_BIN
fi
# The store tests' PostgreSQL server: a throwaway one under a temporary directory.
pg_dir="$(mktemp -d /tmp/decnet-test-pg.XXXXXX)"
trap 'rm -f "$log"; ./scripts/postgres.sh stop "$pg_dir"' EXIT
DECNET_TEST_PG_URL="$(./scripts/postgres.sh start "$pg_dir")" || { echo "the PostgreSQL test server did not start" >&2; exit 1; }
export DECNET_TEST_PG_URL
# Every test binary runs even after one fails, so a CI log shows every failure.
cargo test --workspace --locked --no-fail-fast "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
passed=$(grep -Eo 'test result: [a-zA-Z]+\. [0-9]+ passed' "$log" | awk '{s += $4} END {print s + 0}')
failed=$(grep -Eo '[0-9]+ failed;' "$log" | awk '{s += $1} END {print s + 0}')
./scripts/schemathesis.sh
schemathesis_status=$?
[[ "$schemathesis_status" -eq 0 ]] && schemathesis_result=passed || schemathesis_result=FAILED
./scripts/console-test.sh
console_status=$?
[[ "$console_status" -eq 0 ]] && console_result=passed || console_result=FAILED
echo
echo "tests: ${passed} passed, ${failed} failed; schemathesis: ${schemathesis_result}; console: ${console_result}"
[[ "$status" -eq 0 ]] || exit "$status"
[[ "$schemathesis_status" -eq 0 ]] || exit "$schemathesis_status"
exit "$console_status"
