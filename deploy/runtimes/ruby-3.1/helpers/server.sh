#!/usr/bin/env bash
# helpers/server.sh: runs the HTTP server of the runtime (open-runtimes v5 protocol on :3000).
# src/server.rb: Ruby standard library only, one thread per connection.
set -euo pipefail
cd /usr/local/server
if [ -n "${OPEN_RUNTIMES_SERVER_COMMAND:-}" ]; then
  exec bash -c "$OPEN_RUNTIMES_SERVER_COMMAND"
fi
exec ruby src/server.rb
