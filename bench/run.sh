#!/bin/sh
# bench/run.sh [BUILD_DIR] - run gort's benchmarks (the rows of bench/lib.sh)
# and print the median, fastest and slowest of GORT_BENCH_RUNS runs of each.
# `make bench` runs it.  Exit status 1 when a run failed.
set -u
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
bench_setup bench "${1:-build}"

echo "bench: median of $BENCH_RUNS runs; $(nproc) CPUs"
while read -r cmd; do
    key=$(bench_key "$cmd")
    echo "bench: running $cmd" >&2
    i=0
    while [ "$i" -lt "$BENCH_RUNS" ]; do
        # shellcheck disable=SC2086 # cmd is a program and its arguments
        bench_run gort "$key" $cmd || break
        i=$((i + 1))
    done
done <"$work/commands"

{
    printf 'workload\tunit\tmedian\tmin\tmax\truns\n'
    while IFS='|' read -r label cmd metric unit _; do
        # shellcheck disable=SC2046 # split "median min max count"
        set -- $(bench_stats "$(bench_key "$cmd")" gort "$metric")
        if [ $# -eq 4 ]; then
            printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$label" "$unit" \
                "$(bench_fmt "$1")" "$(bench_fmt "$2")" "$(bench_fmt "$3")" "$4"
        else
            printf '%s\t%s\t%s\t-\t-\t-\n' "$label" "$unit" "$1"
        fi
    done <"$work/rows"
} | bench_table llrrrr

bench_save_raw bench
if bench_failed; then
    exit 1
fi
