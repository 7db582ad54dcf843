#!/bin/sh
# fuzz.sh - builds the libFuzzer harnesses (fuzz/) with clang into build-fuzz and runs each for a set time.
#
#   FUZZ_SECONDS=60      seconds per harness (libFuzzer -max_total_time)
#   FUZZ_HARNESSES="..." which harnesses (default: every one fuzz/CMakeLists.txt builds)
#   FUZZ_NICE=10         niceness of the fuzzing processes
#
# Each harness starts from its seed corpus fuzz/corpus/<name>/ plus the inputs
# it found before (build-fuzz/corpus/<name>/, where new ones go). A crash,
# leak, sanitizer report or a 10 s hang stops that harness and leaves the
# input in build-fuzz/findings/<name>/; copy it to fuzz/regressions/<name>/
# and the test build replays it from then on. One summary line per harness:
# its CPU seconds, runs and coverage; the exit status is non-zero when any
# harness found something.
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD_FUZZ:-build-fuzz}
SECONDS_EACH=${FUZZ_SECONDS:-60}
NICE=${FUZZ_NICE:-10}
CC=${FUZZ_CC:-clang-14}
command -v "$CC" >/dev/null || CC=clang
CXX=$(echo "$CC" | sed 's/clang/clang++/')
CC=$CC CXX=$CXX cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDQ_FUZZ=ON >/dev/null
cmake --build "$BUILD" -j "${JOBS:-2}" -- --no-print-directory >/dev/null

if [ -z "${FUZZ_HARNESSES:-}" ]; then
    FUZZ_HARNESSES=$(cd "$BUILD/fuzz" && ls fuzz_* | sed 's|^fuzz_||')
fi
# CPU seconds of this shell's finished children so far: the second line of
# `times`, which must run in this shell (not a $(...) subshell) to see them.
child_cpu() {
    times >"$BUILD/.times"
    tail -1 "$BUILD/.times" | awk '{ split($1, u, "m"); split($2, s, "m");
        printf "%.1f", u[1] * 60 + u[2] + s[1] * 60 + s[2] }'
}
status=0
for h in $FUZZ_HARNESSES; do
    mkdir -p "$BUILD/corpus/$h" "$BUILD/findings/$h" "fuzz/corpus/$h"
    log="$BUILD/findings/$h.log"
    child_cpu >"$BUILD/.t0"
    t0=$(cat "$BUILD/.t0")
    rc=0
    nice -n "$NICE" "$BUILD/fuzz/fuzz_$h" -max_total_time="$SECONDS_EACH" -timeout=10 \
        -max_len=16384 -print_final_stats=1 -artifact_prefix="$BUILD/findings/$h/" \
        "$BUILD/corpus/$h" "fuzz/corpus/$h" >"$log" 2>&1 || rc=$?
    child_cpu >"$BUILD/.t1"
    cpu=$(awk -v t0="$t0" '{printf "%.0f", $1 - t0}' "$BUILD/.t1")
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | awk '{print $2}')
    cov=$(grep -Eo 'cov: [0-9]+' "$log" | tail -1 | awk '{print $2}')
    if [ "$rc" -eq 0 ]; then
        result=ok
    else
        result="FOUND (see $log and $BUILD/findings/$h/)"
        status=1
    fi
    printf '%-14s %6s cpu-s %10s runs  cov %5s  %s\n' "$h" "$cpu" "${runs:-?}" "${cov:-?}" \
        "$result"
done
exit $status
