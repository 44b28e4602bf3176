#!/usr/bin/env bash
# Builds the statically linked decnet-decoy binary that DECNET's container images run
# (FROM scratch: no libc in the image). Prints the binary's path.
set -euo pipefail
cd "$(dirname "$0")/.."
target="$(rustc -vV | sed -n 's/^host: //p')"
RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" \
  cargo build --release --locked -p decnet-decoy --target "$target" >&2
echo "$PWD/target/$target/release/decnet-decoy"
