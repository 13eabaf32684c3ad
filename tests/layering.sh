#!/bin/sh
# Layering check (DESIGN.md "Layout"): the layers include only downwards.
#   routing/  may not include "tls/", "certs/" or "gateway/"
#   certs/    may not include "tls/", "routing/" or "gateway/"
#   tls/      may not include "gateway/"
#   gateway/dns/ may not include gateway/ folders other than io/ and observe/, nor tls/, certs/
# Prints every offending line as file:line: text and exits 1 if there is one.
# Usage: tests/layering.sh [repo root]   (default: the parent of this script's directory)
set -u
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$root" || exit 2

status=0
# check DIR REGEX: quoted includes under DIR whose path starts with one of the forbidden layers.
check() {
  dir=$1
  forbidden=$2
  [ -d "$dir" ] || return 0
  hits=$(find "$dir" -type f \( -name '*.h' -o -name '*.hh' -o -name '*.hpp' -o -name '*.cc' \
           -o -name '*.cpp' -o -name '*.c' -o -name '*.inc' \) -print0 |
         xargs -0 -r grep -nE "^[[:space:]]*#[[:space:]]*include[[:space:]]*[\"<]($forbidden)/" \
           /dev/null)
  if [ -n "$hits" ]; then
    echo "layering: $dir/ may not include $(echo "$forbidden" | sed 's/|/, /g'):"
    echo "$hits" | sed 's/^/  /'
    status=1
  fi
}

check routing 'tls|certs|gateway'
check certs 'tls|routing|gateway'
check tls 'gateway'
# gateway/dns/ is libuv + c-ares glue: from gateway/ it uses only io/ and observe/.
check gateway/dns 'gateway/(admin|config|egress|http|listen|runtime|upstream)|tls|certs'

if [ "$status" -eq 0 ]; then
  echo "layering: ok (routing/, certs/, tls/, gateway/dns/ include only lower layers)"
fi
exit "$status"
