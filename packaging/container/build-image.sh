#!/usr/bin/env bash
# Builds the Portcullis image with podman and no image registry:
#   1. a Debian 12 base made by debootstrap (minbase + the runtime libraries, curl,
#      ca-certificates) from a Debian mirror, imported as localhost/portcullis-base:bookworm
#      (kept between runs; PORTCULLIS_REBUILD_BASE=1 makes it again);
#   2. the .deb (packaging/deb/build-deb.sh; PORTCULLIS_DEB=file to use one already built);
#   3. the multi-stage Containerfile: the .deb installed on the base, then only the files
#      needed copied onto scratch.
# Prints the image's size; fails above 120 MB.
#
#   bash packaging/container/build-image.sh [tag, default portcullis:<version>]
# Env: PODMAN_BUILD_OPTS (e.g. --isolation=chroot where the OCI runtime cannot start
# containers, as in a container with hybrid cgroups), DEBIAN_MIRROR (default http://deb.debian.org/debian), PORTCULLIS_ROOTFS (a debootstrap
# tree to import instead of making one), PORTCULLIS_BUILD (build dir for build-deb.sh).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
here=$root/packaging/container
base=localhost/portcullis-base:bookworm
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
max_bytes=$((120 * 1000 * 1000))

if [ "${PORTCULLIS_REBUILD_BASE:-0}" = 1 ] || ! podman image exists "$base"; then
  rootfs=${PORTCULLIS_ROOTFS:-}  # a tree debootstrap already made with the same --include
  if [ -z "$rootfs" ]; then
    rootfs=$(mktemp -d /var/tmp/portcullis-rootfs.XXXXXX)
    trap 'rm -rf "$rootfs"' EXIT
    debootstrap --variant=minbase \
      --include=libuv1,libssl3,libnghttp2-14,libc-ares2,libtomlplusplus3,ca-certificates,curl,adduser,init-system-helpers,logrotate \
      bookworm "$rootfs" "$mirror"
  fi
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" --numeric-owner -c . | podman import - "$base"
fi

mkdir -p "$here/dist"
if [ -n "${PORTCULLIS_DEB:-}" ]; then
  cp "$PORTCULLIS_DEB" "$here/dist/portcullis.deb"
else
  out=$(mktemp -d)
  bash "$root/packaging/deb/build-deb.sh" "${PORTCULLIS_BUILD:-build-rel}" "$out" >&2
  cp "$out"/portcullis_*.deb "$here/dist/portcullis.deb"
  rm -rf "$out"
fi
version=$(dpkg-deb -f "$here/dist/portcullis.deb" Version)
version=${version%-*}
tag=${1:-portcullis:$version}
revision=$(git -C "$root" rev-parse HEAD 2>/dev/null || echo unknown)

podman build --format docker ${PODMAN_BUILD_OPTS:-} --build-arg BASE="$base" --build-arg VERSION="$version" \
  --build-arg REVISION="$revision" --build-arg CREATED="$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
  -t "$tag" -f "$here/Containerfile" "$here"
size=$(podman image inspect --format '{{.Size}}' "$tag")
echo "image $tag: $size bytes ($((size / 1000000)) MB)"
if [ "$size" -gt "$max_bytes" ]; then
  echo "build-image: larger than 120 MB" >&2
  exit 1
fi
