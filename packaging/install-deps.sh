#!/usr/bin/env bash
# install-deps.sh: install what Portcullis needs to build and test on Debian 12 (bookworm).
#
# Idempotent: checks every package with dpkg-query and runs apt-get only when something is
# missing. Runs as root (CI) or through sudo otherwise. Extra packages may be named on the
# command line (e.g. `install-deps.sh nghttp2-proxy` for the benchmarks).
set -euo pipefail

packages=(
  build-essential g++ meson ninja-build pkg-config
  libuv1-dev libssl-dev libnghttp2-dev libc-ares-dev libtomlplusplus-dev catch2 node-llhttp
  nlohmann-json3-dev
  # the ACME client's HTTPS (issue #16)
  libcurl4-openssl-dev
  # the ACME integration tests: Let's Encrypt's test CA
  pebble
  curl nghttp2-client nghttp2-server openssl haproxy
  python3 python3-h2 ca-certificates iproute2 procps
  # packaging/monitoring: `promtool check rules` (meson test monitoring-rules)
  prometheus
  # tests/integration/test_dashboard.py renders the admin dashboard in headless Chromium
  chromium
  # issue #14: real WebSocket and gRPC clients and servers (test_websocket, test_grpc)
  python3-websockets python3-grpcio
  # the fuzz stage (tests/fuzz/run_fuzz.sh): libFuzzer and clang's sanitizer runtimes, and
  # llvm-symbolizer-14 so its reports name functions and lines
  clang libclang-rt-14-dev llvm-14
  # tests/packaging: the .deb (lintian, dpkg-shlibdeps, systemd-analyze) and the Helm chart
  lintian dpkg-dev binutils systemd python3-yaml
  # tests/packaging/ansible_test.py: the role uses ansible.builtin modules only
  ansible-core
  "$@"
)

installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

missing=()
for p in "${packages[@]}"; do
  if ! installed "$p"; then
    missing+=("$p")
  fi
done
# nginx: any flavour will do (nginx-light on bookworm is nginx plus the echo module).
if ! installed nginx && ! installed nginx-light && ! installed nginx-core \
    && ! installed nginx-full && ! installed nginx-extras && ! command -v nginx >/dev/null 2>&1; then
  missing+=(nginx)
fi

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: all packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1; then
  as_root=(sudo)
else
  echo "install-deps: need root (or sudo) to install: ${missing[*]}" >&2
  exit 1
fi

# Debian starts nginx and haproxy as services on install; the tests run their own instances on
# free loopback ports, and a service that fails to start (port 80 taken, no init in a container)
# would fail the install. A temporary policy-rc.d tells invoke-rc.d not to start anything.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | "${as_root[@]}" tee "$policy" >/dev/null
  "${as_root[@]}" chmod 755 "$policy"
  trap '"${as_root[@]}" rm -f "$policy"' EXIT
fi

export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y --no-install-recommends "${missing[@]}"
echo "install-deps: done"
