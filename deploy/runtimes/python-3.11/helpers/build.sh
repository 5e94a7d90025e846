#!/usr/bin/env bash
# helpers/build.sh "<commands>": builds the source extracted in /mnt/code into /mnt/code/code.tar.gz.
# Python: the commands run in /usr/local/build with the runtime-env virtualenv activated.
# Env: OPEN_RUNTIMES_ENTRYPOINT (recorded in .open-runtimes), OPEN_RUNTIMES_OUTPUT_DIRECTORY (optional
# sub-directory of the build dir to pack).
set -euo pipefail

SRC=/mnt/code
BUILD=/usr/local/build
OUT="$SRC/code.tar.gz"
COMMANDS=${1:-}

if [ ! -d "$SRC" ] || [ -z "$(ls -A "$SRC" 2>/dev/null)" ]; then
  echo "Code directory $SRC is empty. Upload the function source before building." >&2
  exit 1
fi

# Empty it rather than remove it: in a sandbox it is a mount point (read-only root filesystem).
mkdir -p "$BUILD"
find "$BUILD" -mindepth 1 -maxdepth 1 -exec rm -rf {} +
cp -a "$SRC/." "$BUILD/"
rm -f "$BUILD/code.tar.gz"
cd "$BUILD"

export HOME=${HOME:-/root}

# Build-prepare hook: a virtualenv inside the build dir (packed with the function; the server adds its
# site-packages to sys.path). It reuses the image's pip (--system-site-packages, no ensurepip run), so
# `pip install -r requirements.txt` in the build commands installs into runtime-env.
VENV="$BUILD/runtime-env"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv --without-pip --system-site-packages "$VENV"
  printf '#!/bin/sh\nexec "%s/bin/python" -m pip "$@"\n' "$VENV" >"$VENV/bin/pip"
  chmod +x "$VENV/bin/pip"
  ln -sf pip "$VENV/bin/pip3"
fi
export VIRTUAL_ENV="$VENV" PATH="$VENV/bin:$PATH" PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore

if [ -n "$COMMANDS" ]; then
  echo "Running build commands: $COMMANDS"
  set +e
  bash -c "$COMMANDS"
  rc=$?
  set -e
  if [ "$rc" -ne 0 ]; then
    echo "Build command exited with code $rc." >&2
    exit "$rc"
  fi
fi

PACK_DIR="$BUILD"
if [ -n "${OPEN_RUNTIMES_OUTPUT_DIRECTORY:-}" ]; then
  PACK_DIR="$BUILD/${OPEN_RUNTIMES_OUTPUT_DIRECTORY#/}"
  [ -d "$PACK_DIR" ] || { echo "Output directory $OPEN_RUNTIMES_OUTPUT_DIRECTORY does not exist." >&2; exit 1; }
fi

printf 'OPEN_RUNTIMES_ENTRYPOINT=%q\n' "${OPEN_RUNTIMES_ENTRYPOINT:-}" >"$PACK_DIR/.open-runtimes"

if [ -z "$(ls -A "$PACK_DIR" | grep -vx '.open-runtimes' || true)" ]; then
  echo "Build output is empty." >&2
  exit 1
fi

tar -C "$PACK_DIR" -czf /tmp/code.tar.gz.partial .
mv -f /tmp/code.tar.gz.partial "$OUT"
echo "Build packed: $OUT ($(stat -c %s "$OUT") bytes)"
