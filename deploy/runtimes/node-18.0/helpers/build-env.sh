# Sourced by helpers/build.sh (deploy/runtimes/_common) in the build dir before the build commands.
# Node: npm's cache dir must exist (HOME may be a fresh tmpfs in the sandbox).
mkdir -p "${npm_config_cache:-$HOME/.npm}"
