#!/bin/sh
# Short fuzz run for CI: builds every libFuzzer target with clang and runs each for N seconds on a
# COPY of its committed corpus (the committed seeds are never modified).
#
# Usage: tests/fuzz/run_fuzz.sh [seconds per target, default 20] [target ...]
# Env:   FUZZ_BUILD_DIR (default build-fuzz), FUZZ_WORK_DIR (default a mktemp dir, removed unless
#        a crash was found), FUZZ_JOBS (libFuzzer -jobs, default 1), NINJA_JOBS (ninja -j,
#        default ninja's own), FUZZ_REQUIRE_CLANG=1 (no clang is an error, exit 2: CI sets it),
#        FUZZ_RESULTS (a file that gets one "PASS name" / "FAIL name" line per target run).
# Exit:  0 all targets ran clean; 1 a target crashed/leaked/timed out (artifacts kept and
#        printed); 2 setup or build failure; 0 with a notice when clang is not installed.
# Needs (Debian 12): apt-get install clang libclang-rt-14-dev
set -u
seconds=${1:-20}
[ $# -gt 0 ] && shift
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${FUZZ_BUILD_DIR:-build-fuzz}
case $build in /*) ;; *) build=$root/$build ;; esac
jobs=${FUZZ_JOBS:-1}
ninja_jobs=${NINJA_JOBS:+-j$NINJA_JOBS}
results=${FUZZ_RESULTS:-/dev/null}

if ! command -v clang++ >/dev/null 2>&1 || ! command -v clang >/dev/null 2>&1; then
  if [ "${FUZZ_REQUIRE_CLANG:-0}" = 1 ]; then
    echo "run_fuzz: clang not installed (apt-get install clang libclang-rt-14-dev)"
    exit 2
  fi
  echo "run_fuzz: clang not installed; skipping (apt-get install clang libclang-rt-14-dev)"
  exit 0
fi

# Everything instrumented for coverage (fuzzer-no-link) and ASan+UBSan; the fuzz_* executables
# add -fsanitize=fuzzer themselves (tests/fuzz/meson.build).
if [ ! -f "$build/build.ninja" ]; then
  CC=clang CXX=clang++ meson setup "$build" "$root" \
    -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debugoptimized \
    -Dc_args=-fsanitize=fuzzer-no-link -Dcpp_args=-fsanitize=fuzzer-no-link || exit 2
fi

all=$(ninja -C "$build" -t targets all | sed -n 's#^\(tests/fuzz/fuzz_[a-z0-9_]*\):.*#\1#p' | sort -u)
if [ $# -gt 0 ]; then
  wanted=""
  for t in "$@"; do wanted="$wanted tests/fuzz/fuzz_$t"; done
else
  wanted=$all
fi
[ -n "$wanted" ] || { echo "run_fuzz: no fuzz targets in $build"; exit 2; }
# shellcheck disable=SC2086
ninja -C "$build" $ninja_jobs $wanted || exit 2

work=${FUZZ_WORK_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/pc-fuzz-XXXXXX")}
mkdir -p "$work"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
# clang's runtime looks for a plain `llvm-symbolizer` on PATH; Debian's llvm-14 has only the
# versioned name, and without one a crash's stack is bare addresses.
if [ -z "${ASAN_SYMBOLIZER_PATH:-}" ] && ! command -v llvm-symbolizer >/dev/null 2>&1 \
    && [ -x /usr/bin/llvm-symbolizer-14 ]; then
  export ASAN_SYMBOLIZER_PATH=/usr/bin/llvm-symbolizer-14
fi

failed=""
for exe in $wanted; do
  name=${exe#tests/fuzz/fuzz_}
  corpus=$work/corpus/$name
  artifacts=$work/artifacts/$name
  mkdir -p "$corpus" "$artifacts"
  if [ -d "$root/tests/fuzz/corpus/$name" ]; then
    cp -R "$root/tests/fuzz/corpus/$name/." "$corpus/"
  fi
  echo "=== fuzz $name for ${seconds}s"
  # -jobs > 1 runs that many fuzzing processes, each logging to fuzz-N.log in the work dir.
  parallel=""
  [ "$jobs" -gt 1 ] && parallel="-jobs=$jobs -workers=$jobs"
  # shellcheck disable=SC2086
  if ! (cd "$work" && "$build/$exe" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 $parallel -artifact_prefix="$artifacts/" "$corpus" \
      >"$work/$name.log" 2>&1); then
    echo "!!! $name FAILED; last lines of $work/$name.log:"
    tail -n 60 "$work/$name.log"
    for a in "$artifacts"/*; do
      [ -f "$a" ] || continue
      echo "--- reproducer $a (hex):"
      od -An -tx1 -v "$a" | head -n 40
      echo "--- reproduce with: $build/$exe $a"
    done
    failed="$failed $name"
    echo "FAIL $name" >>"$results"
  else
    grep -E '^(stat::number_of_executed_units|Done )' "$work/$name.log" | tail -n 2
    echo "PASS $name" >>"$results"
  fi
done

if [ -n "$failed" ]; then
  echo "run_fuzz: FAILED:$failed (artifacts in $work/artifacts)"
  exit 1
fi
[ -n "${FUZZ_WORK_DIR:-}" ] || rm -rf "$work"
echo "run_fuzz: all targets clean"
exit 0
