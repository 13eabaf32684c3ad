#!/bin/sh
# Sanitizer build for CI: the whole project with gcc under AddressSanitizer + UBSan, then the
# full test suite (unit tests, fuzz corpus replays, layering, integration as configured).
#
# Usage: tests/sanitize.sh [build dir, default build-asan] [extra `meson test` arguments...]
# Env:   NINJA_JOBS (ninja -j, default ninja's own), SANITIZE_FRESH=1 (wipe the build dir first).
# Exit:  0 all tests passed and no sanitizer report; 1 a test failed; 2 setup or build failed;
#        3 the tests passed but a sanitizer report was found (printed at the end).
#
# Where reports go: a unit test with a report fails by itself (halt/abort). The gateway under the
# integration tests is another matter: its stderr lands in the test's temporary directory and a
# report at shutdown (LeakSanitizer runs at exit) fails no test. So ASan/LSan write every
# process's report to $build/sanitizer-reports/asan.PID, and the integration tests keep their
# directories under $build/itest-tmp so their *.err files can be searched for UBSan reports
# (gcc's libubsan ignores log_path when ASan is linked in). The search result is written to
# $build/sanitizer-scan.txt: "clean" or the files with reports.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build-asan}
[ $# -gt 0 ] && shift
case $build in /*) ;; *) build=$root/$build ;; esac

[ "${SANITIZE_FRESH:-0}" = 1 ] && rm -rf "$build"
if [ ! -f "$build/build.ninja" ]; then
  # -O1 and line tables only (-g1): what ASan's documentation suggests, and the build is about
  # a third of -O2 -g's compile time (snapshot.cc: 15 s against 43 s), which was half of CI's
  # wall. Reports still name function, file and line.
  meson setup "$build" "$root" -Db_sanitize=address,undefined -Db_lundef=false \
    -Ddebug=false -Doptimization=1 -Dc_args=-g1 -Dcpp_args=-g1 || exit 2
fi
ninja -C "$build" ${NINJA_JOBS:+-j"$NINJA_JOBS"} || exit 2

reports=$build/sanitizer-reports
itmp=$build/itest-tmp
scan=$build/sanitizer-scan.txt
rm -rf "$reports" "$itmp" "$scan"
mkdir -p "$reports" "$itmp"

# Any UBSan report is fatal and both print stacks; leaks are reported by LeakSanitizer.
# A small quarantine: the default 256 MiB of freed-but-held memory would trip the integration
# tests' RSS bounds (a streamed 256 MiB body) without any real growth.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1:quarantine_size_mb=8}:log_path=$reports/asan"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
export PORTCULLIS_ITEST_KEEP=1 TMPDIR="$itmp"
status=0
# gcc 12's ASan can abort a process at start when the kernel randomises mmap with more bits than
# its shadow layout expects ("Shadow memory range interleaves with an existing memory mapping"):
# run the tests without address-space randomisation when setarch is allowed to turn it off.
norand=""
if setarch "$(uname -m)" -R true 2>/dev/null; then
  norand="setarch $(uname -m) -R"
fi
$norand meson test -C "$build" --print-errorlogs "$@" || status=1

found=""
for f in "$reports"/asan.*; do
  [ -f "$f" ] && found="$found $f"
done
pattern='runtime error:|ERROR: (AddressSanitizer|LeakSanitizer)|SUMMARY: [A-Za-z]*Sanitizer'
for f in $(grep -rlE "$pattern" --include='*.err' "$itmp" 2>/dev/null); do
  found="$found $f"
done
if [ -n "$found" ]; then
  echo "$found" | tr ' ' '\n' | sed '/^$/d' >"$scan"
  # one bug usually reports from every process that runs it: show the first few in full
  for f in $(head -n 5 "$scan"); do
    echo "=== sanitizer report in $f"
    grep -vE '^\s*$' "$f" | head -n 200
  done
  echo "sanitize: $(wc -l <"$scan") file(s) with sanitizer reports, listed in $scan"
  [ "$status" -eq 0 ] && status=3
else
  echo clean >"$scan"
  echo "sanitize: no sanitizer reports"
  rm -rf "$itmp"  # the kept integration directories hold large test files
fi
exit "$status"
