#!/usr/bin/env bash
# Sets up and runs DECNET's main job on this machine: builds the `decnet` binary, opens the
# embedded SQLite database (DECNET_DB, default ~/.local/share/decnet/decnet.db), creates and
# deploys a demo topology on first run, shows it, and runs the engine (reconciler and healer)
# until Ctrl-C. The runtime is the in-process simulation until the Docker runtime lands
# (DECNET_RUNTIME selects it then).
set -euo pipefail
cd "$(dirname "$0")/.."

command -v cargo >/dev/null || { echo "cargo not found: install Rust from your distribution or rustup" >&2; exit 1; }
echo "[run] building decnet (release)..." >&2
cargo build --release --locked -p decnet
decnet=target/release/decnet
export DECNET_RUNTIME="${DECNET_RUNTIME:-memory}"

if ! "$decnet" topology show demo >/dev/null 2>&1; then
  echo "[run] creating the demo topology (seed 7)..." >&2
  "$decnet" topology generate --name demo --depth 3 --branching 2 --seed 7
  "$decnet" topology deploy demo
fi
"$decnet" topology show demo
echo "[run] engine running; queue changes from another shell, e.g.:" >&2
echo "      $decnet topology mutate demo add_lan --payload '{\"name\":\"lab\"}'" >&2
exec "$decnet" engine run
