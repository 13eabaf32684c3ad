#!/usr/bin/env bash
# Builds portcullis_<version>_<arch>.deb from a release build: the binary, the systemd unit,
# logrotate, an example config under /etc/portcullis (conffiles, never overwritten), and a
# system user created at install.
#
#   bash packaging/deb/build-deb.sh [build dir, default build-rel] [output dir, default .]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-build-rel}
out=${2:-.}
case $build in /*) ;; *) build=$root/$build ;; esac

if [ ! -f "$build/build.ninja" ]; then
  meson setup "$build" "$root" -Dbuildtype=release
fi
ninja -C "$build" gateway/portcullis

version=$("$build/gateway/portcullis" version | awk '{print $2}')
arch=$(dpkg --print-architecture)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

install -Dm0755 "$build/gateway/portcullis" "$stage/usr/bin/portcullis"
install -Dm0644 "$root/packaging/systemd/portcullis.service" \
  "$stage/lib/systemd/system/portcullis.service"
install -Dm0644 "$root/packaging/deb/logrotate" "$stage/etc/logrotate.d/portcullis"
install -Dm0644 "$root/README.md" "$stage/usr/share/doc/portcullis/README.md"
install -d -m0750 "$stage/etc/portcullis/tenants.d"
cat > "$stage/etc/portcullis/gateway.toml" <<'TOML'
# Portcullis: see /usr/share/doc/portcullis/README.md. Validate with `portcullis check`.
[gateway]
workers = 0
tenants_dir = "tenants.d"

[admin]
listen = "127.0.0.1:9901"

[log]
access = "/var/log/portcullis/access.log"
audit  = "/var/log/portcullis/audit.log"

# [mesh], [[listener]] and tenant files: see the README and `portcullis demo`.
TOML

mkdir -p "$stage/DEBIAN"
cat > "$stage/DEBIAN/control" <<CONTROL
Package: portcullis
Version: $version
Architecture: $arch
Maintainer: Portcullis team <team@portcullis.invalid>
Depends: libuv1 (>= 1.44), libssl3 (>= 3.0), libnghttp2-14 (>= 1.52), libc-ares2 (>= 1.18), libtomlplusplus3 (>= 3.3), adduser
Section: net
Priority: optional
Description: edge gateway for zero-trust service meshes
 Per-tenant TLS by SNI, routing into the mesh over mutual TLS, default-deny egress with strict
 certificate checks, reload without dropped connections, audit log and Prometheus metrics.
CONTROL
echo "/etc/portcullis/gateway.toml" > "$stage/DEBIAN/conffiles"
echo "/etc/logrotate.d/portcullis" >> "$stage/DEBIAN/conffiles"
cat > "$stage/DEBIAN/postinst" <<'POSTINST'
#!/bin/sh
set -e
if [ "$1" = "configure" ]; then
  if ! getent passwd portcullis >/dev/null; then
    adduser --system --group --no-create-home --home /nonexistent portcullis
  fi
  install -d -m0750 -o portcullis -g portcullis /var/log/portcullis
  chgrp -R portcullis /etc/portcullis
  if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null || true
  fi
fi
POSTINST
cat > "$stage/DEBIAN/prerm" <<'PRERM'
#!/bin/sh
set -e
if [ -d /run/systemd/system ] && [ "$1" = "remove" ]; then
  systemctl stop portcullis.service >/dev/null 2>&1 || true
fi
PRERM
chmod 0755 "$stage/DEBIAN/postinst" "$stage/DEBIAN/prerm"

deb="$out/portcullis_${version}_${arch}.deb"
dpkg-deb --root-owner-group --build "$stage" "$deb"
echo "built $deb"
