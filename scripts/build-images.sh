#!/usr/bin/env bash
# Builds the function runtime images `fnplat/runtime-<runtimeId>:latest` from deploy/runtimes/<runtimeId>/.
#
#   scripts/build-images.sh [runtimeId ...]      (default: every dir under deploy/runtimes/)
#
# Per runtime:
#  (a) base image: when deploy/runtimes/<id>/base.env exists, a Debian rootfs is debootstrapped
#      (minbase + `apt-get install` of BASE_PACKAGES inside the chroot), cached as a tarball under
#      $FNPLAT_CACHE_DIR/base/ and `docker import`ed as fnplat/base-<BASE_NAME>:<hash of inputs> (+ :latest).
#      Skipped when that tag already exists; the tarball is reused when only the image is missing.
#  (b) runtime image: `docker build` of deploy/runtimes/<id>/Dockerfile with BASE_IMAGE=<base image>,
#      labelled fnplat.runtime.hash=<hash of the runtime dir's files + base image id>. Skipped when the
#      existing image carries the same label.
# Idempotent and safe to run concurrently (flock). Needs root (debootstrap/chroot) and a running Docker
# engine (scripts/infra-up.sh starts one; this script never starts dockerd).
#
# Env: FNPLAT_CACHE_DIR (/var/cache/fnplat), FNPLAT_DEBIAN_MIRROR (http://deb.debian.org/debian),
#      FNPLAT_DEBIAN_SECURITY_MIRROR (http://deb.debian.org/debian-security), FNPLAT_FORCE_REBUILD=1
#      (rebuild runtime images even when the hash label matches).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUNTIMES_DIR="$ROOT/deploy/runtimes"
CACHE_DIR=${FNPLAT_CACHE_DIR:-/var/cache/fnplat}
MIRROR=${FNPLAT_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${FNPLAT_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
FORCE=${FNPLAT_FORCE_REBUILD:-0}
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
# make_rootfs <suite> <packages> <dest dir>. Its source text is part of the base image hash, so
# editing it invalidates cached bases.
make_rootfs() {
  # Runs in an `if !` context where set -e is off: every step checks its status explicitly.
  local suite=$1 packages=$2 dest=$3
  debootstrap --variant=minbase --cache-dir="$CACHE_DIR/debs" "$suite" "$dest" "$MIRROR" || return 1
  printf 'deb %s %s main\ndeb %s %s-updates main\ndeb %s %s-security main\n' \
    "$MIRROR" "$suite" "$MIRROR" "$suite" "$SECURITY_MIRROR" "$suite" >"$dest/etc/apt/sources.list" || return 1
  printf '#!/bin/sh\nexit 101\n' >"$dest/usr/sbin/policy-rc.d" && chmod +x "$dest/usr/sbin/policy-rc.d" || return 1
  echo force-unsafe-io >"$dest/etc/dpkg/dpkg.cfg.d/fnplat-unsafe-io" || return 1
  rm -f "$dest"/var/cache/apt/archives/*.deb
  # apt resolves (and configures) the full dependency tree; debootstrap --include does not reliably.
  mkdir -p "$CACHE_DIR/debs/apt/partial" || return 1
  mount --bind "$CACHE_DIR/debs/apt" "$dest/var/cache/apt/archives" || return 1
  local rc=0
  {
    chroot "$dest" env DEBIAN_FRONTEND=noninteractive LC_ALL=C apt-get update -q &&
      chroot "$dest" env DEBIAN_FRONTEND=noninteractive LC_ALL=C \
        apt-get install -y -q --no-install-recommends $packages &&
      chroot "$dest" env LC_ALL=C dpkg --configure -a &&
      chroot "$dest" node --version &&
      chroot "$dest" npm --version
  } || rc=$?
  umount "$dest/var/cache/apt/archives" || return 1
  [ "$rc" = 0 ] || return "$rc"
  rm -f "$dest/etc/dpkg/dpkg.cfg.d/fnplat-unsafe-io" "$dest/usr/sbin/policy-rc.d"
  rm -rf "$dest"/var/lib/apt/lists/* "$dest"/var/cache/apt/*.bin "$dest"/var/cache/apt/archives/*.deb \
    "$dest"/usr/share/man/* "$dest"/usr/share/info/* "$dest"/usr/share/doc/* "$dest"/usr/share/locale/* \
    "$dest"/var/log/*.log "$dest"/tmp/* "$dest"/root/.npm
  : >"$dest/etc/hostname"
}

cleanup_work() {
  local m
  for m in "$1/rootfs/var/cache/apt/archives" "$1/rootfs/proc" "$1"; do
    if mountpoint -q "$m" 2>/dev/null; then umount "$m" || umount -l "$m"; fi
  done
  rm -rf --one-file-system "$1"
}
WORK=""
trap '[ -z "$WORK" ] || cleanup_work "$WORK"' EXIT

ensure_base() { # <runtime dir>; sets BASE_IMAGE
  local dir=$1 BASE_NAME BASE_SUITE BASE_PACKAGES
  # shellcheck disable=SC1091
  . "$dir/base.env"
  [ -n "${BASE_NAME:-}" ] && [ -n "${BASE_SUITE:-}" ] || die "$dir/base.env must set BASE_NAME and BASE_SUITE"
  local hash
  hash=$( { printf '%s\n%s\n%s\n' "$BASE_SUITE" "$BASE_PACKAGES" "$MIRROR"; declare -f make_rootfs; } | sha)
  BASE_IMAGE="fnplat/base-$BASE_NAME:$hash"
  local t=$(date +%s.%N)
  if docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
    log "base $BASE_IMAGE: present, skipped"
  else
    local tarball="$CACHE_DIR/base/$BASE_NAME-$hash.tar.gz"
    if [ -s "$tarball" ]; then
      log "base $BASE_IMAGE: reusing cached rootfs $tarball"
    else
      [ "$(id -u)" = 0 ] || die "building the $BASE_NAME base needs root (debootstrap, chroot, mount)"
      command -v debootstrap >/dev/null || die "debootstrap not installed (scripts/infra-up.sh installs it)"
      local work
      work=$(mktemp -d "$CACHE_DIR/tmp/rootfs-$BASE_NAME.XXXXXX")
      WORK=$work
      # dpkg fsyncs every file: building in RAM is 2-3x faster than on disk.
      mount -t tmpfs -o size=4g,mode=0755 fnplat-rootfs "$work" 2>/dev/null || log "tmpfs unavailable, building on disk"
      local blog="$CACHE_DIR/logs/base-$BASE_NAME-$hash.log"
      log "base $BASE_IMAGE: debootstrap $BASE_SUITE + [$BASE_PACKAGES] (log: $blog)"
      if ! make_rootfs "$BASE_SUITE" "$BASE_PACKAGES" "$work/rootfs" >"$blog" 2>&1; then
        tail -40 "$blog" >&2
        cleanup_work "$work"
        die "building the $BASE_NAME rootfs failed"
      fi
      log "base $BASE_IMAGE: rootfs ready after $(since "$t"), packing"
      tar --numeric-owner -C "$work/rootfs" -cf - . | gzip -1 >"$tarball.tmp"
      mv "$tarball.tmp" "$tarball"
      cleanup_work "$work"
      WORK=""
      find "$CACHE_DIR/base" -name "$BASE_NAME-*.tar.gz" ! -name "$BASE_NAME-$hash.tar.gz" -delete
    fi
    docker import \
      --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change 'ENV LANG=C.UTF-8' \
      --change 'CMD ["bash"]' \
      --message "fnplat base $BASE_NAME ($BASE_SUITE: $BASE_PACKAGES)" \
      "$tarball" "$BASE_IMAGE" >/dev/null
    log "base $BASE_IMAGE: imported in $(since "$t")"
    # drop tags of superseded bases (layers stay while a runtime image still uses them)
    docker images --format '{{.Repository}}:{{.Tag}}' "fnplat/base-$BASE_NAME" |
      grep -v -e ":$hash\$" -e ':latest$' | xargs -r docker rmi >/dev/null 2>&1 || true
  fi
  docker tag "$BASE_IMAGE" "fnplat/base-$BASE_NAME:latest"
}

# --- (b) runtime image -----------------------------------------------------------------------
build_runtime() { # <runtime id>
  local id=$1 dir="$RUNTIMES_DIR/$1" t
  t=$(date +%s.%N)
  [ -f "$dir/Dockerfile" ] || die "$dir/Dockerfile not found"
  local build_args=() base_id=""
  BASE_IMAGE=""
  if [ -f "$dir/base.env" ]; then
    ensure_base "$dir"
    build_args+=(--build-arg "BASE_IMAGE=$BASE_IMAGE")
    base_id=$(docker image inspect -f '{{.Id}}' "$BASE_IMAGE")
  fi
  local image="fnplat/runtime-$id:latest" hash current
  hash=$( { printf '%s\n' "$base_id"; cd "$dir" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum; } | sha)
  current=$(docker image inspect -f '{{ index .Config.Labels "fnplat.runtime.hash" }}' "$image" 2>/dev/null || true)
  if [ "$current" = "$hash" ] && [ "$FORCE" != 1 ]; then
    log "runtime $image: up to date (hash $hash), skipped"
    return
  fi
  local blog="$CACHE_DIR/logs/runtime-$id.log" previous
  previous=$(docker image inspect -f '{{.Id}}' "$image" 2>/dev/null || true)
  log "runtime $image: docker build (hash $hash, log: $blog)"
  if ! docker build "${build_args[@]}" \
    --label "fnplat.runtime.id=$id" --label "fnplat.runtime.hash=$hash" \
    -t "$image" "$dir" >"$blog" 2>&1; then
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

ids=("$@")
if [ ${#ids[@]} -eq 0 ]; then
  for d in "$RUNTIMES_DIR"/*/; do [ -f "$d/Dockerfile" ] && ids+=("$(basename "$d")"); done
fi
[ ${#ids[@]} -gt 0 ] || die "no runtimes found under $RUNTIMES_DIR"
for id in "${ids[@]}"; do build_runtime "$id"; done
log "done in $(since "$T0")"
