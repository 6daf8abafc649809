#!/bin/sh
# bench/compare.sh [BUILD_DIR] - run each benchmark of bench/lib.sh with gort
# and with Go, alternately (gort, Go, gort, Go, ...) so that machine noise
# falls on both alike, and print one table: the medians, their ratio and the
# row's target.  `make bench-compare` runs it.
#
# The Go programs (bench/go/PROGRAM/) are built into BUILD_DIR with the
# standard library only and no network.  Without a Go toolchain the Go
# columns are left empty and gort's numbers are still printed.
# Exit status 1 when a run failed; a MISS is a result, not a failure.
set -u
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
bench_setup bench-compare "${1:-build}"

# build_go PROGRAM: build bench/go/PROGRAM as BUILD/bench/go-PROGRAM.
build_go() {
    rm -f "$BENCH_BUILD/bench/go-$1"
    if [ ! -d "bench/go/$1" ]; then
        # Not a failure: some programs (gortd) have no Go twin by design.
        echo "bench-compare: bench/go/$1 does not exist; no Go column for $1"
        return 1
    fi
    if ! (cd bench/go &&
        GOPATH="$BENCH_BUILD/go/path" GOCACHE="$BENCH_BUILD/go/cache" \
            GOFLAGS="-mod=mod -modcacherw" GOPROXY=off GO111MODULE=on \
            GOTOOLCHAIN=local go build -o "$BENCH_BUILD/bench/go-$1" "./$1") >"$work/err" 2>&1; then
        echo "bench-compare: go build of bench/go/$1 failed; no Go column for $1"
        sed 's/^/    /' "$work/err"
        echo "go build failed" >"$work/go-build-$1.fail"
        return 1
    fi
}

have_go=0
if command -v go >/dev/null 2>&1; then
    have_go=1
    go_version=$(go version)
    cut -d' ' -f1 "$work/commands" | sort -u | while read -r prog; do
        build_go "$prog"
    done
    echo "bench-compare: median of $BENCH_RUNS runs each, gort and Go alternately; $(nproc) CPUs; $go_version"
else
    echo "bench-compare: Go toolchain not found (apt-get install golang-go); skipping Go columns"
    echo "bench-compare: median of $BENCH_RUNS runs each; $(nproc) CPUs"
fi

while read -r cmd; do
    key=$(bench_key "$cmd")
    prog=${cmd%% *}
    use_go=$have_go
    [ -x "$BENCH_BUILD/bench/go-$prog" ] || use_go=0
    echo "bench-compare: running $cmd" >&2
    i=0
    while [ "$i" -lt "$BENCH_RUNS" ]; do
        # shellcheck disable=SC2086 # cmd is a program and its arguments
        bench_run gort "$key" $cmd
        if [ "$use_go" -eq 1 ]; then
            # shellcheck disable=SC2086
            bench_run go "$key" $cmd
        fi
        i=$((i + 1))
    done
done <"$work/commands"

{
    printf 'workload\tunit\tgort\tGo\tgort/Go\ttarget\tstatus\n'
    while IFS='|' read -r label cmd metric unit target; do
        key=$(bench_key "$cmd")
        g=$(bench_stats "$key" gort "$metric" | cut -d' ' -f1)
        o=$(bench_stats "$key" go "$metric" | cut -d' ' -f1)
        # The ratio of the unrounded medians; the verdict is on the ratio as
        # shown, so that "1.00x" is never a MISS against "<= 1.0x".
        verdict=$(awk -v g="$g" -v o="$o" -v t="$target" '
            function num(x) { return x ~ /^[0-9.]+([eE][-+]?[0-9]+)?$/ }
            BEGIN {
                ratio = "-"; status = "-"
                if (num(g) && num(o) && o + 0 > 0) {
                    ratio = sprintf("%.2f", g / o)
                    if (t != "-") status = (ratio + 0 <= t + 0) ? "ok" : "MISS"
                    ratio = ratio "x"
                }
                if (g == "FAIL" || o == "FAIL") status = "FAIL"
                print ratio, status
            }')
        shown_target=-
        [ "$target" = - ] || shown_target="<= ${target}x"
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$label" "$unit" "$(bench_fmt "$g")" \
            "$(bench_fmt "$o")" "${verdict% *}" "$shown_target" "${verdict#* }"
    done <"$work/rows"
} | bench_table llrrrrl

bench_save_raw bench-compare
if bench_failed; then
    exit 1
fi
