#!/usr/bin/env bash
# The Appwrite CLI suite (tests/cli/push.test.mjs) against a running stack.
# Needs E2E_ENDPOINT, E2E_PROJECT, E2E_KEY (scripts/stack.sh env e2e). npm's cache lives under
# $FNPLAT_CACHE_DIR (default /var/cache/fnplat).
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export npm_config_cache=${npm_config_cache:-${FNPLAT_CACHE_DIR:-/var/cache/fnplat}/npm}
: "${E2E_ENDPOINT:?E2E_ENDPOINT is not set (scripts/stack.sh env e2e)}"
(cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error) || { echo "[cli] npm ci failed" >&2; exit 1; }
node --test --test-concurrency=1 "$HERE/"
