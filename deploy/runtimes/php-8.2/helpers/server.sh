#!/usr/bin/env bash
# helpers/server.sh: runs the HTTP server of the runtime (open-runtimes v5 protocol on :3000).
# PHP's built-in CLI server with src/server.php as router. It serves one request at a time per
# process: PHP_CLI_SERVER_WORKERS forked workers (default 4 x ceil(OPEN_RUNTIMES_CPUS), at least 4)
# serve requests concurrently; more concurrent requests queue in the listen backlog. `-q` turns off
# the per-request access log (the server still prints its start line to stderr).
set -euo pipefail
cd /usr/local/server
if [ -n "${OPEN_RUNTIMES_SERVER_COMMAND:-}" ]; then
  exec bash -c "$OPEN_RUNTIMES_SERVER_COMMAND"
fi

started=$(date +%s%N)
cpus=${OPEN_RUNTIMES_CPUS:-1}
cpus=$(awk -v c="$cpus" 'BEGIN { n = int(c); if (n < c) n++; if (n < 1) n = 1; print n }')
workers=$((cpus * 4))
export PHP_CLI_SERVER_WORKERS=${PHP_CLI_SERVER_WORKERS:-$workers}
mkdir -p /usr/local/server/public

php -d variables_order=EGPCS -d enable_post_data_reading=0 -d post_max_size=0 -d memory_limit=-1 \
  -d max_execution_time=0 -d display_errors=stderr -d log_errors=0 -d expose_php=0 \
  -d output_buffering=0 -d zend.exception_ignore_args=0 \
  -q -S 0.0.0.0:3000 -t /usr/local/server/public /usr/local/server/src/server.php &
pid=$!
trap 'kill -TERM "$pid" 2>/dev/null || true' TERM INT

# Readiness: report once the port accepts connections (what the executor polls).
for _ in $(seq 1 400); do
  if ! kill -0 "$pid" 2>/dev/null; then wait "$pid"; exit $?; fi
  if (exec 3<>/dev/tcp/127.0.0.1/3000) 2>/dev/null; then
    awk -v a="$started" -v b="$(date +%s%N)" 'BEGIN { printf "%.3f\n", (b - a) / 1e6 }' >/tmp/.fnplat-startup-ms
    echo 'HTTP server successfully started!'
    break
  fi
  sleep 0.025
done
wait "$pid"
