#!/bin/sh
# Layering check (DESIGN.md "Layout", ARCHITECTURE of gateway/): the layers include only downwards.
#   routing/  may not include "tls/", "certs/" or "gateway/"
#   certs/    may not include "tls/", "routing/" or "gateway/"
#   tls/      may not include "gateway/"
#   gateway/<folder>/ may include only the gateway folders below it (table below), and <uv.h>
#   only in gateway/io/ and gateway/runtime/ (plus the listed exceptions).
# Prints every offending line as file:line: text and exits 1 if there is one.
# Usage: tests/layering.sh [repo root] [stamp file to touch on success]
# The build runs it (gateway/meson.build, target layering_check), so a back-up include fails ninja.
set -u
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
stamp=${2:-}
case $stamp in ''|/*) ;; *) stamp="$(pwd)/$stamp" ;; esac  # relative to the caller (build dir)
cd "$root" || exit 2

status=0
sources() {
  find "$@" -type f \( -name '*.h' -o -name '*.hh' -o -name '*.hpp' -o -name '*.cc' \
    -o -name '*.cpp' -o -name '*.c' -o -name '*.inc' \) -print0
}
# check DIR REGEX: quoted includes under DIR whose path starts with one of the forbidden layers.
check() {
  dir=$1
  forbidden=$2
  [ -e "$dir" ] || return 0
  hits=$(sources "$dir" |
         xargs -0 -r grep -nE "^[[:space:]]*#[[:space:]]*include[[:space:]]*[\"<]($forbidden)/" \
           /dev/null)
  if [ -n "$hits" ]; then
    echo "layering: $dir may not include $(echo "$forbidden" | sed 's/|/, /g'):"
    echo "$hits" | sed 's/^/  /'
    status=1
  fi
}

check routing 'tls|certs|gateway'
check certs 'tls|routing|gateway'
check tls 'gateway'

# gateway/ folders, bottom to top, and the gateway folders each may include (besides itself).
# routing/, certs/ and tls/ sit below every gateway folder.
all='observe io dns config acme http snapshot events upstream egress listen admin runtime'
allowed() {
  case $1 in
    observe)  echo '' ;;
    io)       echo 'observe' ;;
    dns)      echo 'observe io' ;;
    config)   echo 'observe' ;;
    acme)     echo 'observe config' ;;
    http)     echo 'observe io config' ;;
    snapshot) echo 'observe io config http' ;;
    events)   echo 'observe http snapshot' ;;
    upstream) echo 'observe io dns config http snapshot events' ;;
    egress)   echo 'observe io dns config http snapshot events upstream' ;;
    listen)   echo 'observe io dns config http snapshot events upstream egress' ;;
    admin)    echo 'observe io snapshot' ;;
    runtime)  echo "$all" ;;
  esac
}
for f in $all; do
  forbidden=''
  for g in $all; do
    [ "$g" = "$f" ] && continue
    case " $(allowed "$f") " in *" $g "*) continue ;; esac
    forbidden="${forbidden:+$forbidden|}gateway/$g"
  done
  [ -n "$forbidden" ] && check "gateway/$f" "$forbidden"
done

# <uv.h> belongs to io/ (the glue) and runtime/ (threads, signals, timers). The exceptions own a
# libuv handle as a member, which needs the full type:
#   listen/listener.h               the listening uv_tcp_t
#   admin/admin_server.h            the admin listening uv_tcp_t
#   upstream/health_checker.h       the probe interval uv_timer_t
#   dns/resolver.h                  the c-ares socket polls and timer
#   egress/resolver.h, egress/destination.h  the lookups and the connect request
uv_exceptions='gateway/listen/listener.h gateway/admin/admin_server.h
gateway/upstream/health_checker.h
gateway/dns/resolver.h gateway/egress/resolver.h gateway/egress/destination.h'
uv_hits=$(sources gateway routing certs tls |
          xargs -0 -r grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*<uv\.h>' /dev/null |
          grep -vE '^gateway/(io|runtime)/' |
          while IFS= read -r line; do
            file=${line%%:*}
            case " $(echo $uv_exceptions) " in *" $file "*) ;; *) echo "$line" ;; esac
          done)
if [ -n "$uv_hits" ]; then
  echo "layering: <uv.h> only in gateway/io/ and gateway/runtime/ (or a listed exception):"
  echo "$uv_hits" | sed 's/^/  /'
  status=1
fi

if [ "$status" -eq 0 ]; then
  echo "layering: ok (routing/, certs/, tls/ and every gateway/ folder include only lower layers)"
  [ -n "$stamp" ] && : > "$stamp"
fi
exit "$status"
