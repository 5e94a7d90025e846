#!/usr/bin/env bash
# make test: set the machine up like `make up`, then run every suite and fail if any failed.
#
#   1. cargo nextest run --workspace   (Rust unit + integration tests; PostgreSQL/RabbitMQ/Docker)
#   2. node --test tests/runtime/      (runtime image tests, when present)
#   3. end-to-end: the whole stack on its own resources (gateway :18080, database fnplat_e2e,
#      vhost fnplat-e2e, /var/lib/fnplat/e2e) driven by node-appwrite from tests/e2e/
#   4. sdk: tests/sdk/run.sh (the same scenarios with node-appwrite and two python `appwrite`
#      releases) and 5. cli: tests/cli/run.sh (`appwrite push function`), on the same e2e stack
#
# FNPLAT_TEST_SUITES="unit runtime e2e sdk cli" picks suites (default: all five).
# FNPLAT_E2E_FILES="tests/e2e/a.test.mjs ..." runs only those e2e files (default: tests/e2e/).
# FNPLAT_SDK_MODE=generations|node|python runs only that part of the sdk suite (default: all).
# FNPLAT_E2E_KEEP=1 keeps the e2e database/vhost after the run for inspection.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
SUITES=${FNPLAT_TEST_SUITES:-unit runtime e2e sdk cli}
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
  has_suite e2e || return 0
  log "node --test tests/e2e/ against $E2E_ENDPOINT (project $E2E_PROJECT)"
  timeout --foreground "${FNPLAT_E2E_TIMEOUT:-1800}" \
    node --test --test-concurrency=1 ${FNPLAT_E2E_FILES:-tests/e2e/}
}

run_on_stack() { # suite command... : a suite that drives the e2e stack run_e2e started
  local name=$1 s2=$SECONDS; shift
  has_suite "$name" || return 0
  if [ -z "${E2E_ENDPOINT:-}" ]; then record "$name" 1 0; return 1; fi   # the stack never came up
  log "$name: $* against $E2E_ENDPOINT"
  timeout --foreground "${FNPLAT_E2E_TIMEOUT:-1800}" "$@"
  local rc2=$?
  record "$name" "$rc2" $((SECONDS - s2))
  return "$rc2"
}

if has_suite e2e || has_suite sdk || has_suite cli; then
  unset E2E_ENDPOINT
  s=$SECONDS
  trap '"$STACK" stop e2e' EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM   # so the EXIT trap stops the stack on Ctrl-C or a CI kill too
  run_e2e; rc=$?
  others=0
  run_on_stack sdk tests/sdk/run.sh "${FNPLAT_SDK_MODE:-all}" || others=1
  run_on_stack cli tests/cli/run.sh || others=1
  if [ "$rc" -ne 0 ] || [ "$others" -ne 0 ]; then
    log "e2e failed: service logs"
    "$STACK" logs e2e 80
  fi
  "$STACK" stop e2e
  trap - EXIT INT TERM
  [ "${FNPLAT_E2E_KEEP:-0}" = 1 ] || "$STACK" e2e-cleanup
  ! has_suite e2e || record e2e "$rc" $((SECONDS - s))
fi

# --- summary ------------------------------------------------------------------------------------
log "summary (total $((SECONDS - t0))s)"
for suite in unit runtime e2e sdk cli; do
  [ -n "${result[$suite]:-}" ] && printf '  %-8s %s\n' "$suite" "${result[$suite]}" >&2
done
exit $failed
