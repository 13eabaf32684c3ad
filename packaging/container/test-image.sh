#!/usr/bin/env bash
# Runs the image as operators would: read-only root filesystem, non-root, all capabilities
# dropped, the configuration mounted read-only. Checks /readyz, a TLS request through a tenant
# (a direct_response route: no upstream needed), the HEALTHCHECK, the labels and the size.
# Not in CI: it needs podman, a debootstrap'ed base and minutes (build-image.sh first).
#
#   bash packaging/container/test-image.sh [image, default portcullis:0.1.0]
set -euo pipefail
image=${1:-portcullis:0.1.0}
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${PORTCULLIS_BIN:-$root/build/gateway/portcullis}
work=$(mktemp -d)
name=portcullis-test-$$
cleanup() {
  podman rm -f "$name" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*"
  podman logs "$name" 2>&1 | tail -20 || true
  exit 1
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
port=$(free_port)
host=shop.image.example

# PKI and configuration, made with the host's binary; readable by the image's user 10001.
cfg=$work/etc
mkdir -p "$cfg/tenants.d"
"$bin" certs init-ca --dir "$work/mesh" --name "Mesh CA" --trust-domain mesh.example >/dev/null
"$bin" certs issue --ca "$work/mesh" --out "$cfg/gw" --spiffe spiffe://mesh.example/ns/edge/sa/gw >/dev/null
"$bin" certs init-ca --dir "$work/tca" --name "Tenant CA" >/dev/null
"$bin" certs issue --ca "$work/tca" --out "$cfg/shop" --dns "$host" >/dev/null
cp "$work/mesh/ca.pem" "$cfg/mesh-ca.pem"
cat > "$cfg/gateway.toml" <<TOML
[gateway]
workers = 1
tenants_dir = "tenants.d"
[admin]
listen = "127.0.0.1:9901"
[log]
access = "-"
audit = "-"
[mesh]
trust_domain = "mesh.example"
ca = "mesh-ca.pem"
cert = "gw.pem"
key = "gw.key"
[[listener]]
name = "public"
kind = "ingress"
address = "0.0.0.0:8443"
TOML
cat > "$cfg/tenants.d/shop.toml" <<TOML
name = "shop"
hosts = ["$host"]
[tls]
cert = "../shop.pem"
key = "../shop.key"
[[route]]
path_prefix = "/"
direct_response = "hello from {tenant}"
TOML
chmod -R a+rX "$cfg"

podman run -d --name "$name" --read-only --cap-drop ALL --security-opt no-new-privileges \
  -p "127.0.0.1:$port:8443" -v "$cfg:/etc/portcullis:ro" "$image" >/dev/null
[ "$(podman exec "$name" /usr/bin/curl -fsS http://127.0.0.1:9901/readyz -o /dev/null \
     -w '%{http_code}' || true)" = 200 ] || sleep 2
for _ in $(seq 1 30); do
  code=$(podman exec "$name" /usr/bin/curl -s -o /dev/null -w '%{http_code}' \
    http://127.0.0.1:9901/readyz || true)
  [ "$code" = 200 ] && break
  sleep 1
done
[ "$code" = 200 ] || fail "/readyz answered $code"
body=$(curl -fsS --cacert "$work/tca/ca.pem" --resolve "$host:$port:127.0.0.1" \
  "https://$host:$port/") || fail "TLS request"
[ "$body" = "hello from shop" ] || fail "TLS request answered: $body"
podman healthcheck run "$name" || fail "HEALTHCHECK"
user=$(podman inspect --format '{{.Config.User}}' "$name")
[ "$user" = "10001:10001" ] || fail "runs as $user"
for label in title version revision created; do
  podman image inspect --format "{{index .Labels \"org.opencontainers.image.$label\"}}" "$image" |
    grep -q . || fail "no org.opencontainers.image.$label label"
done
size=$(podman image inspect --format '{{.Size}}' "$image")
[ "$size" -le 120000000 ] || fail "image is $size bytes"
echo "PASS: $image ($((size / 1000000)) MB): /readyz 200, TLS 200 read-only as 10001, healthy"
