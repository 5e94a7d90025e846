#!/usr/bin/env bash
# make test: set the machine up like `make up`, then run every suite and fail if any failed.
#
#   1. cargo nextest run --workspace   (Rust unit + integration tests; PostgreSQL/RabbitMQ/Docker)
#   2. node --test tests/runtime/      (runtime image tests, when present)
#   3. end-to-end: the whole stack on its own resources (gateway :18080, database fnplat_e2e,
#      vhost fnplat-e2e, /var/lib/fnplat/e2e) driven by node-appwrite from tests/e2e/
#
# FNPLAT_TEST_SUITES="unit runtime e2e" picks suites (default: all three).
# FNPLAT_E2E_KEEP=1 keeps the e2e database/vhost after the run for inspection.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
SUITES=${FNPLAT_TEST_SUITES:-unit runtime e2e}
STACK=$ROOT/scripts/stack.sh

log() { printf '\n[test] %s\n' "$*" >&2; }
has_suite() { [[ " $SUITES " == *" $1 "* ]]; }

# --- set-up (any failure here stops everything) ---------------------------------------------
t0=$SECONDS
pg_line=$("$ROOT/scripts/infra-up.sh" | grep '^FNPLAT_PG_PORT=') || { log "infra-up failed"; exit 1; }
export FNPLAT_PG_PORT=${pg_line#FNPLAT_PG_PORT=}
if [ -x "$ROOT/scripts/build-images.sh" ]; then
  "$ROOT/scripts/build-images.sh" || { log "build-images failed"; exit 1; }
else
  log "WARNING: scripts/build-images.sh not found: runtime images are not built"
fi
log "cargo build --workspace --bins"
cargo build --workspace --bins || { log "cargo build failed"; exit 1; }
log "set-up done in $((SECONDS - t0))s"

declare -A result
failed=0
record() { # name rc seconds
  if [ "$2" -eq 0 ]; then result[$1]="ok (${3}s)"; else result[$1]="FAILED (exit $2, ${3}s)"; failed=1; fi
}

# --- 1. Rust tests ------------------------------------------------------------------------------
if has_suite unit; then
  log "cargo nextest run --workspace"
  s=$SECONDS
  if command -v cargo-nextest >/dev/null 2>&1; then
    cargo nextest run --workspace --no-fail-fast --no-tests=warn; rc=$?
  else
    log "cargo-nextest not installed: falling back to cargo test"
    cargo test --workspace; rc=$?
  fi
  record unit "$rc" $((SECONDS - s))
fi

# --- 2. runtime tests ---------------------------------------------------------------------------
if has_suite runtime; then
  if [ -d tests/runtime ]; then
    log "node --test tests/runtime/"
    s=$SECONDS
    if [ -f tests/runtime/package-lock.json ]; then
      (cd tests/runtime && npm ci --no-audit --no-fund --loglevel=error) || { record runtime 1 0; }
    fi
    if [ -z "${result[runtime]:-}" ]; then
      node --test tests/runtime/; record runtime $? $((SECONDS - s))
    fi
  else
    result[runtime]="skipped (no tests/runtime)"
  fi
fi

# --- 3. end-to-end ------------------------------------------------------------------------------
run_e2e() {
  "$STACK" stop e2e || return 1   # a stack left over by an interrupted run
  "$STACK" e2e-resources || return 1
  (cd tests/e2e && npm ci --no-audit --no-fund --loglevel=error) || return 1
  "$STACK" start e2e || return 1
  local assignments
  assignments=$("$STACK" env e2e) || return 1
  while IFS= read -r line; do export "${line?}"; done <<<"$assignments"
  log "node --test tests/e2e/ against $E2E_ENDPOINT (project $E2E_PROJECT)"
  timeout --foreground "${FNPLAT_E2E_TIMEOUT:-1800}" \
    node --test --test-concurrency=1 tests/e2e/
}

if has_suite e2e; then
  s=$SECONDS
  trap '"$STACK" stop e2e' EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM   # so the EXIT trap stops the stack on Ctrl-C or a CI kill too
  run_e2e; rc=$?
  if [ "$rc" -ne 0 ]; then
    log "e2e failed: service logs"
    "$STACK" logs e2e 80
  fi
  "$STACK" stop e2e
  trap - EXIT INT TERM
  [ "${FNPLAT_E2E_KEEP:-0}" = 1 ] || "$STACK" e2e-cleanup
  record e2e "$rc" $((SECONDS - s))
fi

# --- summary ------------------------------------------------------------------------------------
log "summary (total $((SECONDS - t0))s)"
for suite in unit runtime e2e; do
  [ -n "${result[$suite]:-}" ] && printf '  %-8s %s\n' "$suite" "${result[$suite]}" >&2
done
exit $failed
