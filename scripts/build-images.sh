#!/usr/bin/env bash
# Builds the function runtime images `fnplat/runtime-<runtimeId>:latest` from deploy/runtimes/<runtimeId>/.
#
#   scripts/build-images.sh [runtimeId ...]      (default: every dir under deploy/runtimes/ with a Dockerfile)
#
#  (a) bases: ONE image per Debian suite with every language in it. deploy/runtimes/<id>/runtime.env names
#      the suite (SUITE=bookworm); deploy/runtimes/_bases/<suite>.env lists its packages and checks. The
#      rootfs is debootstrapped (minbase + `apt-get install` inside the chroot, in a tmpfs with dpkg
#      unsafe-io), cached as a tarball under $FNPLAT_CACHE_DIR/base/ and `docker import`ed as
#      fnplat/base-<suite>:<hash of inputs> (+ :latest). Skipped when that tag exists; the tarball is
#      reused when only the image is missing. Missing bases of different suites are built in parallel.
#  (b) runtime images: `docker build -f deploy/runtimes/<id>/Dockerfile deploy/runtimes` (the context is
#      deploy/runtimes/: every image also copies the shared helpers of deploy/runtimes/_common/) with
#      BASE_IMAGE=<base image> and RUNTIME_ID=<id>, labelled fnplat.runtime.hash=<hash of the runtime dir's
#      files + _common/ + runtime.env + base image id>. Skipped when the existing image carries the same
#      label. A runtime that shares another's server sets SOURCE=<other dir> in its runtime.env: that dir's
#      Dockerfile and files are then used (e.g. node-20.0 = node-18.0's Dockerfile and server on trixie).
#  (c) the ids of every installed runtime image (one per line) go to $FNPLAT_RUNTIMES_FILE; scripts/stack.sh
#      passes them to the gateway as GATEWAY__RUNTIMES.
# Idempotent and safe to run concurrently (flock). Needs root (debootstrap/chroot) and a running Docker
# engine (scripts/infra-up.sh starts one; this script never starts dockerd).
#
# Env: FNPLAT_CACHE_DIR (/var/cache/fnplat), FNPLAT_DEBIAN_MIRROR (http://deb.debian.org/debian),
#      FNPLAT_DEBIAN_SECURITY_MIRROR (http://deb.debian.org/debian-security), FNPLAT_FORCE_REBUILD=1
#      (rebuild runtime images even when the hash label matches), FNPLAT_RUNTIMES_FILE
#      (/var/lib/fnplat/runtimes).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUNTIMES_DIR="$ROOT/deploy/runtimes"
BASES_DIR="$RUNTIMES_DIR/_bases"
CACHE_DIR=${FNPLAT_CACHE_DIR:-/var/cache/fnplat}
MIRROR=${FNPLAT_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${FNPLAT_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
FORCE=${FNPLAT_FORCE_REBUILD:-0}
RUNTIMES_FILE=${FNPLAT_RUNTIMES_FILE:-/var/lib/fnplat/runtimes}
export DOCKER_BUILDKIT=0 # the engine is 20.10 and buildx is not installed: use the classic builder

T0=$(date +%s.%N)
log() { printf '[build-images] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1fs", b - a }'; }
sha() { sha256sum | cut -c1-16; }

docker info >/dev/null 2>&1 || die "Docker engine not reachable (run scripts/infra-up.sh first)"
mkdir -p "$CACHE_DIR/base" "$CACHE_DIR/debs" "$CACHE_DIR/tmp" "$CACHE_DIR/logs"

# One build at a time (tests and other scripts may call us concurrently).
exec 9>"$CACHE_DIR/build-images.lock"
flock 9

# --- (a) base rootfs -------------------------------------------------------------------------
# make_rootfs <suite> <packages> <checks> <dest dir>. Its source text is part of the base image hash,
# so editing it invalidates cached bases. Each suite has its own .deb caches (bases build in parallel).
make_rootfs() {
  # Runs in an `if !` context where set -e is off: every step checks its status explicitly.
  local suite=$1 packages=$2 checks=$3 dest=$4
  local debs="$CACHE_DIR/debs/$suite"
  mkdir -p "$debs/apt/partial" || return 1
  debootstrap --variant=minbase --cache-dir="$debs" "$suite" "$dest" "$MIRROR" || return 1
  printf 'deb %s %s main\ndeb %s %s-updates main\ndeb %s %s-security main\n' \
    "$MIRROR" "$suite" "$MIRROR" "$suite" "$SECURITY_MIRROR" "$suite" >"$dest/etc/apt/sources.list" || return 1
  printf '#!/bin/sh\nexit 101\n' >"$dest/usr/sbin/policy-rc.d" && chmod +x "$dest/usr/sbin/policy-rc.d" || return 1
  echo force-unsafe-io >"$dest/etc/dpkg/dpkg.cfg.d/fnplat-unsafe-io" || return 1
  rm -f "$dest"/var/cache/apt/archives/*.deb
  # apt resolves (and configures) the full dependency tree; debootstrap --include does not reliably.
  mount --bind "$debs/apt" "$dest/var/cache/apt/archives" || return 1
  local rc=0
  {
    chroot "$dest" env DEBIAN_FRONTEND=noninteractive LC_ALL=C apt-get update -q &&
      chroot "$dest" env DEBIAN_FRONTEND=noninteractive LC_ALL=C \
        apt-get install -y -q --no-install-recommends $packages &&
      chroot "$dest" env LC_ALL=C dpkg --configure -a &&
      chroot "$dest" env LC_ALL=C.UTF-8 HOME=/root bash -c "$checks"
  } || rc=$?
  umount "$dest/var/cache/apt/archives" || return 1
  [ "$rc" = 0 ] || return "$rc"
  rm -f "$dest/etc/dpkg/dpkg.cfg.d/fnplat-unsafe-io" "$dest/usr/sbin/policy-rc.d"
  rm -rf "$dest"/var/lib/apt/lists/* "$dest"/var/cache/apt/*.bin "$dest"/var/cache/apt/archives/*.deb \
    "$dest"/usr/share/man/* "$dest"/usr/share/info/* "$dest"/usr/share/doc/* "$dest"/usr/share/locale/* \
    "$dest"/var/log/*.log "$dest"/tmp/* "$dest"/root/.npm "$dest"/root/.cache "$dest"/root/.composer \
    "$dest"/root/.config/composer "$dest"/root/.local/share/composer
  : >"$dest/etc/hostname"
}

cleanup_work() {
  local m
  for m in "$1/rootfs/var/cache/apt/archives" "$1/rootfs/proc" "$1"; do
    if mountpoint -q "$m" 2>/dev/null; then umount "$m" || umount -l "$m"; fi
  done
  rm -rf --one-file-system "$1"
}

# base_vars <suite>: sets BASE_PACKAGES, BASE_CHECKS, BASE_HASH, BASE_IMAGE, BASE_TARBALL.
base_vars() {
  local suite=$1 file="$BASES_DIR/$1.env"
  [ -f "$file" ] || die "no base definition $file for suite '$suite'"
  BASE_PACKAGES="" BASE_CHECKS="true"
  # shellcheck disable=SC1090
  . "$file"
  [ -n "$BASE_PACKAGES" ] || die "$file must set BASE_PACKAGES"
  BASE_HASH=$( { printf '%s\n%s\n%s\n%s\n' "$suite" "$BASE_PACKAGES" "$BASE_CHECKS" "$MIRROR"; declare -f make_rootfs; } | sha)
  BASE_IMAGE="fnplat/base-$suite:$BASE_HASH"
  BASE_TARBALL="$CACHE_DIR/base/$suite-$BASE_HASH.tar.gz"
}

# build_tarball <suite>: debootstraps the rootfs in a tmpfs and packs it into $BASE_TARBALL.
# Run in a subshell (it sets its own EXIT trap).
build_tarball() {
  local suite=$1 t blog
  t=$(date +%s.%N)
  base_vars "$suite"
  [ "$(id -u)" = 0 ] || die "building the $suite base needs root (debootstrap, chroot, mount)"
  command -v debootstrap >/dev/null || die "debootstrap not installed (scripts/infra-up.sh installs it)"
  BT_WORK=$(mktemp -d "$CACHE_DIR/tmp/rootfs-$suite.XXXXXX") # global: the EXIT trap outlives this function
  local work=$BT_WORK
  trap 'cleanup_work "$BT_WORK"' EXIT
  # dpkg fsyncs every file: building in RAM is 2-3x faster than on disk.
  mount -t tmpfs -o size=6g,mode=0755 "fnplat-rootfs-$suite" "$work" 2>/dev/null || log "tmpfs unavailable, building on disk"
  blog="$CACHE_DIR/logs/base-$suite-$BASE_HASH.log"
  log "base $BASE_IMAGE: debootstrap $suite + [$BASE_PACKAGES] (log: $blog)"
  if ! make_rootfs "$suite" "$BASE_PACKAGES" "$BASE_CHECKS" "$work/rootfs" >"$blog" 2>&1; then
    tail -40 "$blog" >&2
    die "building the $suite rootfs failed (log: $blog)"
  fi
  log "base $BASE_IMAGE: rootfs ready after $(since "$t") ($(du -sm "$work/rootfs" | cut -f1)MB), packing"
  tar --numeric-owner -C "$work/rootfs" -cf - . | gzip -1 >"$BASE_TARBALL.tmp"
  mv "$BASE_TARBALL.tmp" "$BASE_TARBALL"
  find "$CACHE_DIR/base" -name "$suite-*.tar.gz" ! -name "$suite-$BASE_HASH.tar.gz" -delete
  log "base $suite: rootfs packed after $(since "$t")"
}

# ensure_bases <suite...>: every base image present and tagged :latest.
ensure_bases() {
  local suite pids=() failed=0 t
  t=$(date +%s.%N)
  for suite in "$@"; do
    base_vars "$suite"
    docker image inspect "$BASE_IMAGE" >/dev/null 2>&1 && continue
    [ -s "$BASE_TARBALL" ] && continue
    ( build_tarball "$suite" ) &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || failed=1; done
  [ "$failed" = 0 ] || die "a base rootfs failed to build"
  for suite in "$@"; do
    base_vars "$suite"
    if docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
      log "base $BASE_IMAGE: present, skipped"
    else
      [ -s "$BASE_TARBALL" ] && log "base $BASE_IMAGE: importing $BASE_TARBALL"
      docker import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' \
        --change 'CMD ["bash"]' \
        --message "fnplat base $suite ($BASE_PACKAGES)" \
        "$BASE_TARBALL" "$BASE_IMAGE" >/dev/null
      log "base $BASE_IMAGE: imported ($(since "$t") since bases started)"
      # drop tags of superseded bases (layers stay while a runtime image still uses them)
      docker images --format '{{.Repository}}:{{.Tag}}' "fnplat/base-$suite" |
        grep -v -e ":$BASE_HASH\$" -e ':latest$' | xargs -r docker rmi >/dev/null 2>&1 || true
    fi
    docker tag "$BASE_IMAGE" "fnplat/base-$suite:latest"
  done
}

runtime_var() { # <runtime id> <SUITE|SOURCE>: prints that variable of deploy/runtimes/<id>/runtime.env
  local f="$RUNTIMES_DIR/$1/runtime.env"
  [ -f "$f" ] || return 0
  # shellcheck disable=SC1090
  (SUITE="" SOURCE=""; . "$f"; printf '%s' "${!2}")
}
runtime_suite() { runtime_var "$1" SUITE; }
is_runtime_dir() { # <dir>: a runtime = a dir (not _*) with a Dockerfile or a runtime.env
  case "$(basename "$1")" in _*) return 1 ;; esac
  [ -f "$1/Dockerfile" ] || [ -f "$1/runtime.env" ]
}

# --- (b) runtime image -----------------------------------------------------------------------
build_runtime() { # <runtime id>
  local id=$1 dir="$RUNTIMES_DIR/$1" t suite source
  t=$(date +%s.%N)
  source=$(runtime_var "$id" SOURCE)
  [ -z "$source" ] || dir="$RUNTIMES_DIR/$source"
  [ -f "$dir/Dockerfile" ] || die "$dir/Dockerfile not found"
  local build_args=(--build-arg "RUNTIME_ID=$id") base_id=""
  suite=$(runtime_suite "$id")
  if [ -n "$suite" ]; then
    base_vars "$suite"
    build_args+=(--build-arg "BASE_IMAGE=$BASE_IMAGE")
    base_id=$(docker image inspect -f '{{.Id}}' "$BASE_IMAGE")
  fi
  local image="fnplat/runtime-$id:latest" hash current
  hash=$( { printf '%s\n%s\n' "$id" "$base_id"; cat "$RUNTIMES_DIR/$id/runtime.env" 2>/dev/null || true
            cd "$RUNTIMES_DIR" && find "$(basename "$dir")" _common -type f -print0 | LC_ALL=C sort -z |
              xargs -0 sha256sum; } | sha)
  current=$(docker image inspect -f '{{ index .Config.Labels "fnplat.runtime.hash" }}' "$image" 2>/dev/null || true)
  if [ "$current" = "$hash" ] && [ "$FORCE" != 1 ]; then
    log "runtime $image: up to date (hash $hash), skipped"
    return
  fi
  local blog="$CACHE_DIR/logs/runtime-$id.log" previous
  previous=$(docker image inspect -f '{{.Id}}' "$image" 2>/dev/null || true)
  log "runtime $image: docker build FROM ${BASE_IMAGE:-<Dockerfile default>} (hash $hash, log: $blog)"
  if ! docker build "${build_args[@]}" \
    --label "fnplat.runtime.id=$id" --label "fnplat.runtime.hash=$hash" \
    -f "$dir/Dockerfile" -t "$image" "$RUNTIMES_DIR" >"$blog" 2>&1; then
    tail -40 "$blog" >&2
    die "docker build of $image failed"
  fi
  # remove the superseded image unless containers still use it
  if [ -n "$previous" ] && [ "$previous" != "$(docker image inspect -f '{{.Id}}' "$image")" ]; then
    docker rmi "$previous" >/dev/null 2>&1 || true
  fi
  local size
  size=$(docker image inspect -f '{{.Size}}' "$image" | awk '{ printf "%.0fMB", $1 / 1000000 }')
  log "runtime $image: built in $(since "$t") ($size)"
}

# --- (c) installed runtimes ------------------------------------------------------------------
write_runtimes_file() {
  local d id list=()
  for d in "$RUNTIMES_DIR"/*/; do
    id=$(basename "$d")
    is_runtime_dir "$d" || continue
    docker image inspect "fnplat/runtime-$id:latest" >/dev/null 2>&1 && list+=("$id")
  done
  mkdir -p "$(dirname "$RUNTIMES_FILE")"
  printf '%s\n' "${list[@]}" >"$RUNTIMES_FILE.tmp"
  mv "$RUNTIMES_FILE.tmp" "$RUNTIMES_FILE"
  log "installed runtimes (${RUNTIMES_FILE}): ${list[*]}"
}

ids=("$@")
if [ ${#ids[@]} -eq 0 ]; then
  for d in "$RUNTIMES_DIR"/*/; do is_runtime_dir "$d" && ids+=("$(basename "$d")"); done
fi
[ ${#ids[@]} -gt 0 ] || die "no runtimes found under $RUNTIMES_DIR"
suites=()
for id in "${ids[@]}"; do
  [ -d "$RUNTIMES_DIR/$id" ] || die "unknown runtime '$id' (no $RUNTIMES_DIR/$id)"
  s=$(runtime_suite "$id")
  [ -z "$s" ] || [[ " ${suites[*]} " == *" $s "* ]] || suites+=("$s")
done
[ ${#suites[@]} -eq 0 ] || ensure_bases "${suites[@]}"
for id in "${ids[@]}"; do build_runtime "$id"; done
write_runtimes_file
log "done in $(since "$T0")"
