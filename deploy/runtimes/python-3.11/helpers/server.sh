#!/usr/bin/env bash
# helpers/server.sh: runs the HTTP server of the runtime (open-runtimes v5 protocol on :3000).
set -euo pipefail
cd /usr/local/server
if [ -n "${OPEN_RUNTIMES_SERVER_COMMAND:-}" ]; then
  exec bash -c "$OPEN_RUNTIMES_SERVER_COMMAND"
fi
exec python3 -u src/server.py
