#!/usr/bin/env bash
# Build the local test images neodev's Docker tests use, only when they are missing.
#
# No registry is reachable from the machines this runs on, so the images are made from Debian
# packages: debootstrap a minimal bookworm root filesystem holding postgresql-15 and prometheus,
# `docker import` it as neodev-test/base:bookworm, then build two small Dockerfiles FROM that
# base with the legacy builder (BuildKit would try to resolve the base image remotely).
#
# Each image carries a label with a hash of the files it is built from: when a Dockerfile or the
# entrypoint changes, the image is rebuilt (the base is reused); otherwise this is a no-op.
#
# Usage: bash tests/images/build.sh [--force]     (--force rebuilds everything, base included)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
WORK="$HERE/.build"
BASE_IMAGE="neodev-test/base:bookworm"
POSTGRES_IMAGE="neodev-test/postgres:15"
PROMETHEUS_IMAGE="neodev-test/prometheus:2.42"
SUITE="bookworm"
PACKAGES="postgresql-15,prometheus,ca-certificates,curl,wget"
REV_LABEL="dev.neodev.test-image.rev"

FORCE=0
if [[ "${1:-}" == "--force" ]]; then FORCE=1; fi

log() { printf '[build-images] %s\n' "$*"; }
die() { printf '[build-images] ERROR: %s\n' "$*" >&2; exit 1; }

# The revision of an image = hash of its build inputs (plus the package list for the base).
rev_of() {
    local dir="$1"
    (cd "$dir" && find . -type f ! -name '*~' -print0 | LC_ALL=C sort -z | xargs -0 sha256sum;
     echo "$PACKAGES") | sha256sum | cut -c1-16
}

# Print the revision label of a local image, or nothing when the image is absent.
image_rev() {
    docker image inspect --format "{{ index .Config.Labels \"$REV_LABEL\" }}" "$1" 2>/dev/null || true
}

image_present() { docker image inspect "$1" >/dev/null 2>&1; }

mirror_url() {
    local src=/etc/apt/sources.list.d/debian.sources uri=""
    if [[ -r "$src" ]]; then
        uri="$(awk '/^URIs:/ {print $2; exit}' "$src")"
    elif [[ -r /etc/apt/sources.list ]]; then
        uri="$(awk '$1 == "deb" && $0 !~ /security/ {print $2; exit}' /etc/apt/sources.list)"
    fi
    echo "${uri:-http://deb.debian.org/debian}"
}

# Unmount anything debootstrap left mounted below $1 (it bind-mounts /dev, /proc, /sys in
# containers), so that removing the tree can never reach the host's files.
unmount_below() {
    local root="$1" mnt
    [[ -d "$root" ]] || return 0
    # Deepest first.
    while read -r mnt; do
        umount -l "$mnt" 2>/dev/null || true
    done < <(awk -v r="$root" '$5 == r || index($5, r "/") == 1 {print $5}' /proc/self/mountinfo \
             | sort -r)
    if awk -v r="$root" '$5 == r || index($5, r "/") == 1 {found=1} END {exit !found}' \
           /proc/self/mountinfo; then
        die "something is still mounted below $root; refusing to delete it"
    fi
}

remove_tree() {
    local root="$1"
    [[ -e "$root" ]] || return 0
    unmount_below "$root"
    rm -rf --one-file-system "$root"
}

ensure_debootstrap() {
    command -v debootstrap >/dev/null 2>&1 && return 0
    if [[ -r /etc/debian_version && "$(id -u)" == 0 ]]; then
        log "installing debootstrap with apt"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
    else
        die "debootstrap is missing: install it (Debian/Ubuntu: apt-get install debootstrap) and run as root"
    fi
}

build_base() {
    local rev="$1" mirror rootfs
    ensure_debootstrap
    mirror="$(mirror_url)"
    rootfs="$WORK/rootfs"
    remove_tree "$rootfs"
    mkdir -p "$rootfs"
    # Removed on every exit path, also on failure or Ctrl-C.
    trap 'remove_tree "'"$rootfs"'"' EXIT
    log "debootstrap $SUITE ($PACKAGES) from $mirror"
    if ! debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$rootfs" "$mirror" \
            >"$WORK/debootstrap.log" 2>&1; then
        tail -n 30 "$WORK/debootstrap.log" >&2
        die "debootstrap failed (full log: $WORK/debootstrap.log)"
    fi
    unmount_below "$rootfs"
    # Trim: package caches, apt lists, and the cluster Debian's postinst creates (the postgres
    # image initialises its own data directory on first start, like the official image).
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
           "$rootfs"/var/lib/postgresql/15/main "$rootfs"/etc/postgresql/15/main \
           "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/locale/*
    log "importing the root filesystem as $BASE_IMAGE"
    tar -C "$rootfs" -c . | docker import \
        --change "LABEL dev.neodev.test-image=1" \
        --change "LABEL $REV_LABEL=$rev" \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' \
        --change 'CMD ["/bin/bash"]' \
        - "$BASE_IMAGE" >/dev/null
    remove_tree "$rootfs"
    trap - EXIT
}

build_image() {
    local image="$1" dir="$2" rev="$3"
    log "building $image"
    if ! DOCKER_BUILDKIT=0 docker build -q \
            --label "dev.neodev.test-image=1" --label "$REV_LABEL=$rev" \
            -t "$image" "$dir" >"$WORK/build-$(basename "$dir").log" 2>&1; then
        cat "$WORK/build-$(basename "$dir").log" >&2
        die "docker build of $image failed"
    fi
}

main() {
    command -v docker >/dev/null 2>&1 || die "the docker CLI is missing (run tests/images/ensure-docker.sh)"
    docker info >/dev/null 2>&1 || die "no Docker engine answers (run tests/images/ensure-docker.sh)"
    mkdir -p "$WORK"

    # One build at a time: several test runs may start together on a fresh machine.
    exec 9>"$WORK/lock"
    if ! flock -w 900 9; then die "another build holds $WORK/lock for more than 15 minutes"; fi

    local base_rev pg_rev prom_rev start=$SECONDS
    base_rev="$(echo "$PACKAGES $SUITE" | sha256sum | cut -c1-16)"
    pg_rev="$(rev_of "$HERE/postgres")"
    prom_rev="$(rev_of "$HERE/prometheus")"

    if [[ "$FORCE" == 0 && "$(image_rev "$POSTGRES_IMAGE")" == "$pg_rev" \
          && "$(image_rev "$PROMETHEUS_IMAGE")" == "$prom_rev" ]]; then
        log "up to date: $POSTGRES_IMAGE, $PROMETHEUS_IMAGE"
        return 0
    fi
    if [[ "$FORCE" == 1 || "$(image_rev "$BASE_IMAGE")" != "$base_rev" ]]; then
        build_base "$base_rev"
    else
        log "reusing $BASE_IMAGE"
    fi
    if [[ "$FORCE" == 1 || "$(image_rev "$POSTGRES_IMAGE")" != "$pg_rev" ]]; then
        build_image "$POSTGRES_IMAGE" "$HERE/postgres" "$pg_rev"
    fi
    if [[ "$FORCE" == 1 || "$(image_rev "$PROMETHEUS_IMAGE")" != "$prom_rev" ]]; then
        build_image "$PROMETHEUS_IMAGE" "$HERE/prometheus" "$prom_rev"
    fi
    image_present "$POSTGRES_IMAGE" && image_present "$PROMETHEUS_IMAGE" \
        || die "images missing after the build"
    log "done in $((SECONDS - start)) s: $POSTGRES_IMAGE, $PROMETHEUS_IMAGE"
}

main "$@"
