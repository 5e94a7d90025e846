#!/usr/bin/env bash
# make bench: set up like `make test`, build release binaries, start the stack on the e2e
# resources, run tests/bench/bench.mjs, stop the stack. Prints ratios against the floor (a direct
# HTTP call to the same warm runtime container) measured in the same run.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
STACK=$ROOT/scripts/stack.sh
pg_line=$("$ROOT/scripts/infra-up.sh" | grep '^FNPLAT_PG_PORT=')
export FNPLAT_PG_PORT=${pg_line#FNPLAT_PG_PORT=}
"$ROOT/scripts/build-images.sh"
cargo build --release --workspace --bins
export FNPLAT_BIN_DIR=$ROOT/target/release
"$STACK" e2e-resources
trap '"$STACK" stop e2e; "$STACK" e2e-cleanup' EXIT
"$STACK" start e2e
while IFS= read -r line; do export "${line?}"; done <<<"$("$STACK" env e2e)"
node tests/bench/bench.mjs
