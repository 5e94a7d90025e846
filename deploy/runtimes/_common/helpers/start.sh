#!/usr/bin/env bash
# helpers/start.sh "<start command>": extracts the built code into /usr/local/server/src/function,
# loads .open-runtimes and execs the start command (default: bash helpers/server.sh).
set -euo pipefail

SERVER=/usr/local/server
FUNCTION_DIR="$SERVER/src/function"
cd "$SERVER"

archive=""
for candidate in /mnt/code/code.tar.gz /tmp/code.tar.gz /mnt/code/code.tar; do
  if [ -f "$candidate" ]; then archive=$candidate; break; fi
done

if [ -n "$archive" ]; then
  mkdir -p "$FUNCTION_DIR"
  case "$archive" in
    *.tar.gz) tar -zxf "$archive" -C "$FUNCTION_DIR" ;;
    *) tar -xf "$archive" -C "$FUNCTION_DIR" ;;
  esac
elif [ -z "$(ls -A "$FUNCTION_DIR" 2>/dev/null)" ]; then
  echo "No build archive found (expected /mnt/code/code.tar.gz)." >&2
  exit 1
fi

if [ -f "$FUNCTION_DIR/.open-runtimes" ]; then
  set -a
  # shellcheck disable=SC1091
  . "$FUNCTION_DIR/.open-runtimes"
  set +a
fi

exec bash -c "${1:-bash $SERVER/helpers/server.sh}"
