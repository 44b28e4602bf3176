#!/usr/bin/env bash
# Builds the statically linked decnet-decoy binary that DECNET's container images run
# (FROM scratch: no libc in the image) and prints its path. `decnet` embeds the same build
# (crates/cli/build.rs, same target directory), so this is only needed to hand a decoy to
# tests and benchmarks (DECNET_DECOY_BIN) or to run it on a host.
set -euo pipefail
cd "$(dirname "$0")/.."
target="$(rustc -vV | sed -n 's/^host: //p')"
RUSTFLAGS="-C target-feature=+crt-static" \
  cargo build --release --locked -p decnet-decoy --target "$target" --target-dir target/static-decoy >&2
echo "$PWD/target/static-decoy/$target/release/decnet-decoy"
