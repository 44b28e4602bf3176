#!/usr/bin/env bash
# Sets up and runs DECNET's main job on this machine: builds the `decnet` binary, opens the
# embedded SQLite database (DECNET_DB, default ~/.local/share/decnet/decnet.db), creates and
# deploys a demo topology on first run, shows it, and runs `decnet serve`: the HTTP API and
# the web console on 127.0.0.1:8080 (DECNET_LISTEN) with the engine (reconciler and
# healer) until Ctrl-C. At first start the user `admin` gets DECNET_ADMIN_PASSWORD or a
# generated password, printed once. With a Docker Engine answering, deckies are real containers (their image is built
# from the static decoy that `decnet` carries); otherwise the in-process simulation runs.
# DECNET_RUNTIME forces either.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v cargo >/dev/null || { echo "cargo not found: install Rust from your distribution or rustup" >&2; exit 1; }
echo "[run] building decnet (release; the first build also builds the static decoy it carries)..." >&2
cargo build --release --locked -p decnet
decnet=target/release/decnet
if [[ -z "${DECNET_RUNTIME:-}" ]]; then
  if docker info >/dev/null 2>&1; then DECNET_RUNTIME=docker; else DECNET_RUNTIME=memory; fi
fi
export DECNET_RUNTIME
echo "[run] runtime: $DECNET_RUNTIME" >&2

if ! "$decnet" topology show demo >/dev/null 2>&1; then
  echo "[run] creating the demo topology (seed 7)..." >&2
  "$decnet" topology generate --name demo --depth 3 --branching 2 --seed 7
  "$decnet" topology deploy demo
fi
"$decnet" topology show demo
echo "[run] serving the API and the web console: open http://${DECNET_LISTEN:-127.0.0.1:8080}/ and sign in as admin" >&2
echo "[run] or queue changes from another shell, e.g.:" >&2
echo "      $decnet topology mutate demo add_lan --payload '{\"name\":\"lab\"}'" >&2
exec "$decnet" serve
