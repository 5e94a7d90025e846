# Sourced by helpers/build.sh (deploy/runtimes/_common) in the build dir ($BUILD) before the build commands.
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
