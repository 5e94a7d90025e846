#!/usr/bin/env bash
# The SDK scenario suite (tests/sdk/python and tests/sdk/node: the same scenarios, same names)
# against a running stack. Needs E2E_ENDPOINT, E2E_PROJECT, E2E_KEY (scripts/stack.sh env e2e).
#
#   tests/sdk/run.sh [install|python|node|generations|all]
#                                       (default: all = install + python + node + generations)
#
# Python runs twice: the newest `appwrite` on PyPI (format 2.5.0) and the last release that sends a
# 1.9.x format (requirements-*.txt pin both). Virtualenvs are cached by requirements hash under
# $FNPLAT_CACHE_DIR (default /var/cache/fnplat). pytest exit 5 (no tests collected) is a failure.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${FNPLAT_CACHE_DIR:-/var/cache/fnplat}/sdk-venv
export PIP_CERT=${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}
export PIP_DISABLE_PIP_VERSION_CHECK=1
export npm_config_cache=${npm_config_cache:-${FNPLAT_CACHE_DIR:-/var/cache/fnplat}/npm}
MODE=${1:-all}

log() { printf '[sdk] %s\n' "$*" >&2; }

venv_for() { # requirements file -> venv dir (created on first use)
  local req=$1 sum dir
  sum=$(sha256sum "$req" | cut -c1-16)
  dir=$CACHE/$(basename "$req" .txt)-$sum
  if [ ! -x "$dir/bin/pytest" ]; then
    log "creating $dir"
    rm -rf "$dir" && mkdir -p "$CACHE"
    python3 -m venv "$dir" >&2 || return 1
    "$dir/bin/pip" install --quiet -r "$req" >&2 || { rm -rf "$dir"; return 1; }
  fi
  echo "$dir"
}

install() {
  local req
  for req in "$HERE"/python/requirements-*.txt; do venv_for "$req" >/dev/null || return 1; done
  (cd "$HERE/node" && npm ci --no-audit --no-fund --loglevel=error) || return 1
  (cd "$HERE/generations" && npm ci --no-audit --no-fund --loglevel=error) || return 1
}

run_python() {
  local req dir rc=0 one
  for req in "$HERE"/python/requirements-*.txt; do
    dir=$(venv_for "$req") || return 1
    log "pytest tests/sdk/python with $(grep '^appwrite==' "$req")"
    (cd "$HERE/python" && "$dir/bin/python" -m pytest -q -p no:cacheprovider .); one=$?
    # 5 = no tests collected: a suite that ran nothing has failed.
    [ "$one" -eq 0 ] || { log "pytest exit $one ($(basename "$req"))"; rc=1; }
  done
  return $rc
}

run_node() {
  log "node --test tests/sdk/node/"
  node --test --test-concurrency=1 "$HERE/node/"
}

# Older node-appwrite majors, one per response-format band (1.0.0 ... 1.9.4).
run_generations() {
  log "node --test tests/sdk/generations/"
  node --test --test-concurrency=1 "$HERE/generations/"
}

# A key of E2E_PROJECT holding only functions.read, and a second project with its own key (the
# scope and project-isolation scenarios), made with the gateway's admin command on the stack's
# database. FNPLAT_STACK_PROFILE names the stack.sh profile E2E_* point at (default e2e).
make_keys() {
  local stack="$HERE/../../scripts/stack.sh" profile=${FNPLAT_STACK_PROFILE:-e2e}
  [ -n "${E2E_KEY_READONLY:-}" ] && [ -n "${E2E_KEY_OTHER:-}" ] && return 0
  export E2E_PROJECT_OTHER=${E2E_PROJECT_OTHER:-sdk-other}
  "$stack" admin "$profile" create-project "$E2E_PROJECT_OTHER" >&2 || return 1
  E2E_KEY_OTHER=$("$stack" admin "$profile" create-key --project "$E2E_PROJECT_OTHER" --name sdk \
    --scopes functions.read,functions.write,executions.read,executions.write) || return 1
  E2E_KEY_READONLY=$("$stack" admin "$profile" create-key --project "$E2E_PROJECT" --name sdk-read \
    --scopes functions.read) || return 1
  export E2E_KEY_OTHER E2E_KEY_READONLY
}

: "${E2E_ENDPOINT:?E2E_ENDPOINT is not set (scripts/stack.sh env e2e)}"
: "${E2E_PROJECT:?E2E_PROJECT is not set}"
: "${E2E_KEY:?E2E_KEY is not set}"
make_keys || { log "creating the scope/isolation keys failed"; exit 1; }
case "$MODE" in
  install) install ;;
  python) run_python ;;
  node) run_node ;;
  generations) run_generations ;;
  all)
    install || { log "install failed"; exit 1; }
    rc=0
    run_python || rc=1
    run_node || rc=1
    run_generations || rc=1
    exit $rc
    ;;
  *) log "unknown mode $MODE"; exit 2 ;;
esac
