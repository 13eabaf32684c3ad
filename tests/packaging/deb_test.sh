#!/usr/bin/env bash
# The .deb as an operator gets it: build-deb.sh packages the build's binary (no rebuild), then
#   - lintian reports no error and no warning on either package;
#   - the binary is stripped, its symbols are in -dbgsym under its build-id, Depends comes from
#     dpkg-shlibdeps (libc6 ...), both manual pages and the maintainer scripts are there;
#   - systemd-analyze verify accepts the unit, and `security --offline=yes` rates it 1.5 or
#     lower (--threshold=15: the threshold is ten times the printed exposure).
# Exit 77 (meson's SKIP) when a tool is missing.
#   bash tests/packaging/deb_test.sh SOURCE_ROOT PORTCULLIS_BINARY
set -euo pipefail
root=$1
bin=$2
for tool in dpkg-deb dpkg-shlibdeps dpkg-parsechangelog lintian systemd-analyze objcopy readelf; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "SKIP: $tool is not installed (packaging/install-deps.sh installs it)"
    exit 77
  fi
done
fail() {
  echo "FAIL: $*"
  exit 1
}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

DEB_COMPRESS=gzip PORTCULLIS_BIN=$bin bash "$root/packaging/deb/build-deb.sh" - "$work/out"
deb=$(ls "$work"/out/portcullis_*.deb)
ddeb=$(ls "$work"/out/portcullis-dbgsym_*.deb)

# lintian: nothing but its note about running as root.
lintian --tag-display-limit 0 "$deb" "$ddeb" > "$work/lintian.txt" 2>&1 || true
grep -v '^running with root privileges' "$work/lintian.txt" > "$work/tags.txt" || true
echo "lintian output (after the root note):"
cat "$work/tags.txt"
[ ! -s "$work/tags.txt" ] || fail "lintian reported tags"

# contents
dpkg-deb -x "$deb" "$work/x"
dpkg-deb -x "$ddeb" "$work/xd"
dpkg-deb -e "$deb" "$work/ctl"
readelf -S "$work/x/usr/bin/portcullis" | grep -q '\.symtab' && fail "binary is not stripped"
id=$(readelf -n "$work/x/usr/bin/portcullis" | awk '/Build ID:/ {print $3; exit}')
[ -f "$work/xd/usr/lib/debug/.build-id/${id:0:2}/${id:2}.debug" ] ||
  fail "no debug file for build-id $id in the dbgsym package"
depends=$(dpkg-deb -f "$deb" Depends)
for lib in libc6 libssl3 libuv1 libnghttp2-14 libc-ares2 adduser; do
  [[ $depends == *"$lib"* ]] || fail "Depends lacks $lib: $depends"
done
for f in usr/share/man/man8/portcullis.8.gz usr/share/man/man5/portcullis.toml.5.gz \
         usr/share/doc/portcullis/copyright usr/share/doc/portcullis/changelog.Debian.gz \
         lib/systemd/system/portcullis.service etc/portcullis/gateway.toml; do
  [ -f "$work/x/$f" ] || fail "missing /$f"
done
for s in postinst prerm postrm; do
  sh -n "$work/ctl/$s" || fail "$s does not parse"
done
grep -q 'deluser --system' "$work/ctl/postrm" && grep -q 'rm -rf /var/log/portcullis' \
  "$work/ctl/postrm" || fail "postrm purge keeps the user or the logs"
grep -q 'systemctl stop\|systemctl start\|systemctl restart' "$work/ctl/"* &&
  fail "a maintainer script calls systemctl to start/stop (use deb-systemd-invoke)"
"$work/x/usr/bin/portcullis" version > /dev/null || fail "the stripped binary does not run"

# the unit, with ExecStart* pointing at the packaged binary (verify wants it executable)
sed "s#/usr/bin/portcullis#$work/x/usr/bin/portcullis#g" \
  "$work/x/lib/systemd/system/portcullis.service" > "$work/portcullis.service"
systemd-analyze verify "$work/portcullis.service" || fail "systemd-analyze verify"
systemd-analyze security --offline=yes --threshold=15 "$work/portcullis.service" \
  > "$work/security.txt" 2>&1 || { cat "$work/security.txt"; fail "exposure above 1.5"; }
grep 'Overall exposure' "$work/security.txt"
echo "PASS"
