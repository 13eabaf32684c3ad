#!/bin/sh
# Sanitizer build for CI: the whole project with gcc under AddressSanitizer + UBSan, then the
# full test suite (unit tests, fuzz corpus replays, layering, integration as configured).
#
# Usage: tests/sanitize.sh [build dir, default build-asan] [extra `meson test` arguments...]
# Exit:  non-zero if setup, build or any test fails (a sanitizer report fails its test).
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build-asan}
[ $# -gt 0 ] && shift
case $build in /*) ;; *) build=$root/$build ;; esac

if [ ! -f "$build/build.ninja" ]; then
  meson setup "$build" "$root" -Db_sanitize=address,undefined -Db_lundef=false || exit 1
fi
ninja -C "$build" || exit 1

# Any UBSan report is fatal and both print stacks; leaks are reported by LeakSanitizer.
# A small quarantine: the default 256 MiB of freed-but-held memory would trip the integration
# tests' RSS bounds (a streamed 256 MiB body) without any real growth.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1:quarantine_size_mb=8}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
meson test -C "$build" --print-errorlogs "$@"
