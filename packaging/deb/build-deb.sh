#!/usr/bin/env bash
# Builds portcullis_<version>-<rev>_<arch>.deb and portcullis-dbgsym_..._<arch>.deb from a
# build: the stripped binary (its symbols in the -dbgsym package, found by build-id), the
# systemd unit, logrotate, manual pages, changelog and copyright, an example config under
# /etc/portcullis (conffiles, never overwritten), dependencies from dpkg-shlibdeps, and
# maintainer scripts that create (and on purge remove) the portcullis user and its logs.
#
#   bash packaging/deb/build-deb.sh [build dir, default build-rel] [output dir, default .]
#   PORTCULLIS_BIN=build/gateway/portcullis bash packaging/deb/build-deb.sh - OUT
#     (packages an existing binary without building: what the CI test does, with
#     DEB_COMPRESS=gzip)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
here=$root/packaging/deb
build=${1:-build-rel}
out=${2:-.}
mkdir -p "$out"
out=$(cd "$out" && pwd)

bin=${PORTCULLIS_BIN:-}
if [ -z "$bin" ]; then
  case $build in /*) ;; *) build=$root/$build ;; esac
  if [ ! -f "$build/build.ninja" ]; then
    meson setup "$build" "$root" -Dbuildtype=release
  fi
  ninja -C "$build" gateway/portcullis
  bin=$build/gateway/portcullis
fi

upstream=$("$bin" version | awk 'NR == 1 {print $2}')
# The package version is the changelog's: it must describe this upstream version.
version=$(dpkg-parsechangelog -l "$here/changelog" -S Version)
if [ "${version%-*}" != "$upstream" ]; then
  echo "build-deb: packaging/deb/changelog is at $version, the binary at $upstream" >&2
  exit 1
fi
arch=$(dpkg --print-architecture)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
stage=$work/portcullis
dbg=$work/portcullis-dbgsym

# Binary: symbols to the dbgsym package (by build-id), then strip as dh_strip does.
install -Dm0755 "$bin" "$stage/usr/bin/portcullis"
build_id=$(readelf -n "$stage/usr/bin/portcullis" | awk '/Build ID:/ {print $3; exit}')
if [ -z "$build_id" ]; then
  echo "build-deb: the binary has no build-id" >&2
  exit 1
fi
debug_file=$dbg/usr/lib/debug/.build-id/${build_id:0:2}/${build_id:2}.debug
install -d "$(dirname "$debug_file")"
objcopy --only-keep-debug --compress-debug-sections "$stage/usr/bin/portcullis" "$debug_file"
chmod 0644 "$debug_file"
strip --remove-section=.comment --remove-section=.note --strip-unneeded \
  "$stage/usr/bin/portcullis"
objcopy --add-gnu-debuglink="$debug_file" "$stage/usr/bin/portcullis"

install -Dm0644 "$root/packaging/systemd/portcullis.service" \
  "$stage/lib/systemd/system/portcullis.service"
install -Dm0644 "$here/logrotate" "$stage/etc/logrotate.d/portcullis"
doc=$stage/usr/share/doc/portcullis
install -d "$doc" "$stage/usr/share/man/man8" "$stage/usr/share/man/man5"
gzip -9n < "$root/README.md" > "$doc/README.md.gz"
gzip -9n < "$here/changelog" > "$doc/changelog.Debian.gz"
install -m0644 "$here/copyright" "$doc/copyright"
install -Dm0644 "$here/lintian-overrides" "$stage/usr/share/lintian/overrides/portcullis"
gzip -9n < "$here/man/portcullis.8" > "$stage/usr/share/man/man8/portcullis.8.gz"
gzip -9n < "$here/man/portcullis.toml.5" > "$stage/usr/share/man/man5/portcullis.toml.5.gz"
# 0755 in the package; postinst narrows /etc/portcullis and the logs with dpkg-statoverride.
install -d -m0755 "$stage/etc/portcullis/tenants.d" "$stage/var/log/portcullis"
cat > "$stage/etc/portcullis/gateway.toml" <<'TOML'
# Portcullis: see portcullis.toml(5) and /usr/share/doc/portcullis/README.md.gz.
# Validate with `portcullis check -c /etc/portcullis/gateway.toml`.
[gateway]
workers = 0
tenants_dir = "tenants.d"

[admin]
listen = "127.0.0.1:9901"

[log]
access = "/var/log/portcullis/access.log"
audit  = "/var/log/portcullis/audit.log"

# [mesh], [[listener]] and tenant files: see portcullis.toml(5) and `portcullis demo`.
TOML
chmod 0644 "$stage/etc/portcullis/gateway.toml"

# Dependencies of the binary, as dpkg-shlibdeps reads them (it wants a debian/control).
mkdir -p "$work/src/debian"
printf 'Source: portcullis\n\nPackage: portcullis\nArchitecture: any\n' > "$work/src/debian/control"
shlibs=$(cd "$work/src" && dpkg-shlibdeps -O -e"$stage/usr/bin/portcullis" 2>/dev/null |
  sed -n 's/^shlibs:Depends=//p')
if [ -z "$shlibs" ]; then
  echo "build-deb: dpkg-shlibdeps found no dependencies" >&2
  exit 1
fi

install -d "$stage/DEBIAN"
cat > "$stage/DEBIAN/control" <<CONTROL
Package: portcullis
Version: $version
Architecture: $arch
Maintainer: Portcullis team <team@portcullis.invalid>
Installed-Size: $(du -sk --exclude=DEBIAN "$stage" | cut -f1)
Depends: $shlibs, adduser, init-system-helpers (>= 1.52)
Recommends: logrotate
Section: net
Priority: optional
Homepage: https://portcullis.invalid/
Description: edge gateway for zero-trust service meshes
 Portcullis terminates TLS for many tenants (a certificate per tenant, chosen
 by SNI), routes requests into the mesh over mutual TLS with SPIFFE identity
 checks, and enforces a default-deny egress policy. It reloads configuration
 and certificates without dropping connections, and writes an audit log and
 Prometheus metrics.
CONTROL
printf '/etc/portcullis/gateway.toml\n/etc/logrotate.d/portcullis\n' > "$stage/DEBIAN/conffiles"
for s in postinst prerm postrm; do
  install -m0755 "$here/$s" "$stage/DEBIAN/$s"
done
(cd "$stage" && find . -path ./DEBIAN -prune -o -type f -printf '%P\n' | LC_ALL=C sort |
  xargs md5sum > DEBIAN/md5sums)
chmod 0644 "$stage/DEBIAN/control" "$stage/DEBIAN/conffiles" "$stage/DEBIAN/md5sums"

# The debug-symbols package, as debhelper names it.
install -d "$dbg/usr/share/doc" "$dbg/DEBIAN"
ln -s portcullis "$dbg/usr/share/doc/portcullis-dbgsym"
cat > "$dbg/DEBIAN/control" <<CONTROL
Package: portcullis-dbgsym
Source: portcullis
Version: $version
Auto-Built-Package: debug-symbols
Architecture: $arch
Maintainer: Portcullis team <team@portcullis.invalid>
Installed-Size: $(du -sk --exclude=DEBIAN "$dbg" | cut -f1)
Depends: portcullis (= $version)
Section: debug
Priority: optional
Description: debug symbols for portcullis
Build-Ids: $build_id
CONTROL
(cd "$dbg" && find . -path ./DEBIAN -prune -o -type f -printf '%P\n' | LC_ALL=C sort |
  xargs md5sum > DEBIAN/md5sums)

deb=$out/portcullis_${version}_${arch}.deb
ddeb=$out/portcullis-dbgsym_${version}_${arch}.deb
# DEB_COMPRESS=gzip makes the test fast; releases get xz.
dpkg-deb --root-owner-group -Z"${DEB_COMPRESS:-xz}" --build "$stage" "$deb" >/dev/null
dpkg-deb --root-owner-group -Z"${DEB_COMPRESS:-xz}" --build "$dbg" "$ddeb" >/dev/null
echo "built $deb"
echo "built $ddeb"
