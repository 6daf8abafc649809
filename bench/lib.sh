# bench/lib.sh - sourced by bench/run.sh and bench/compare.sh: the table of
# benchmark rows, and the helpers that run workloads and summarise them.
#
# A workload is a program plus arguments.  PROGRAM is bench/PROGRAM.c, built
# by make as BUILD/bench/PROGRAM, and (for compare.sh) bench/go/PROGRAM/,
# built as BUILD/bench/go-PROGRAM.  Each run prints one line on stdout,
#
#     WORKLOAD key=value key=value ...
#
# where WORKLOAD is the program's first argument.  Each value is a cost
# (time, bytes): lower is better, so gort/Go <= target means on target.
# (The history writer's rows/s, a gort-only row with no target, is the one
# rate.)
#
# Environment:
#   GORT_BENCH_RUNS     runs per workload and implementation (default 5)
#   GORT_BENCH_FILTER   only rows whose label or command contains this text
#   GORT_BENCH_TIMEOUT  seconds one run may take (default 120, 600 with
#                       GORT_BENCH_BIG=1)
#   GORT_BENCH_BIG      1 adds the rows that need more than 8 GB of RAM and
#                       minutes per run (markcost 4000)

# The rows of the table, one per line: label | command | metric | unit | target
#   command  PROGRAM ARGS..., see above.  Rows with the same command share
#            its runs (parked yields two rows from one set of runs).
#   metric   the key to read from the result line.
#   target   the largest acceptable gort/Go ratio; - for a row that is shown
#            for information only.
# To add a workload, add a row here (and the workload to both programs).
bench_rows() {
    {
        cat <<'EOF'
spawn+exit                          | sched spawn_exit 1000000        | ns_per_op       | ns/op       | 1.0
Gosched switch (GOMAXPROCS=1)       | sched gosched 2000000           | ns_per_op       | ns/switch   | 1.0
RSS per parked goroutine at 1M      | sched parked 1000000            | bytes_per_g     | B/g         | 2.0
page tables per parked g at 1M      | sched parked 1000000            | pte_bytes_per_g | B/g         | -
unbuffered ping-pong (GOMAXPROCS=1) | chan pingpong 1 1000000         | ns_per_op       | ns/hand-off | 1.0
unbuffered ping-pong (GOMAXPROCS=2) | chan pingpong 2 1000000         | ns_per_op       | ns/hand-off | 1.0
buffered cap 128 throughput         | chan buffered 5000000           | ns_per_op       | ns/elem     | 1.0
2-way select                        | chan select2 1000000            | ns_per_op       | ns/select   | 1.0
mutex uncontended                   | chan mutex_uncontended 20000000 | ns_per_op       | ns/pair     | 1.0
mutex contended by 2                | chan mutex_contended 10000000   | ns_per_op       | ns/pair     | 1.0
16 B pointerful alloc (GC off)      | alloc ptr16 5000000             | ns_per_op       | ns/alloc    | 1.0
64 B pointerful alloc (GC off)      | alloc ptr64 5000000             | ns_per_op       | ns/alloc    | 1.0
8 B noscan alloc (GC off)           | alloc noscan8 10000000          | ns_per_op       | ns/alloc    | 1.0
4 KiB alloc (GC off)                | alloc alloc4k 100000            | ns_per_op       | ns/alloc    | 1.0
binary-trees depth 18 wall time     | gc binarytrees 18               | ms              | ms          | 1.0
binary-trees depth 18 peak RSS      | gc binarytrees 18               | peak_rss_mib    | MiB         | 1.3
16 B pointerful alloc (GC on)       | gc alloc16_gc 20000000          | ns_per_op       | ns/alloc    | 1.0
16 B alloc (GC on): collections     | gc alloc16_gc 20000000          | num_gc          | GCs         | -
64 B pointerful alloc (GC on)       | gc alloc64_gc 10000000          | ns_per_op       | ns/alloc    | 1.0
64 B alloc (GC on): collections     | gc alloc64_gc 10000000          | num_gc          | GCs         | -
GC pause p50, 600 MB live, churn    | gc pause 10                     | pause_p50_us    | us          | 1.0
GC pause max, 600 MB live, churn    | gc pause 10                     | pause_max_us    | us          | 1.0
FreeOSMemory after 1 GiB burst      | gc freeosmemory 1024            | ms              | ms          | 1.0
RSS before FreeOSMemory (1 GiB)     | gc freeosmemory 1024            | rss_before_mib  | MiB         | -
RSS after FreeOSMemory (1 GiB)      | gc freeosmemory 1024            | rss_after_mib   | MiB         | 1.1
GC CPU per MB live, 100 MB heap     | gc markcost 100                 | cpu_us_per_mb   | us/MB       | 1.0
GC CPU per MB live, 1000 MB heap    | gc markcost 1000                | cpu_us_per_mb   | us/MB       | 1.0
gortd ping p50, idle                | gortd ping_idle 5000            | p50_us          | us          | -
gortd ping p99, idle                | gortd ping_idle 5000            | p99_us          | us          | -
gortd ping p50, 2 Ps spinning       | gortd ping_spin 5000            | p50_us          | us          | -
gortd ping p99, 2 Ps spinning       | gortd ping_spin 5000            | p99_us          | us          | -
gortd ping p50, GC over 1 GiB heap  | gortd ping_gc 5000              | p50_us          | us          | -
gortd ping p99, GC over 1 GiB heap  | gortd ping_gc 5000              | p99_us          | us          | -
history enqueue, observer (batches) | history enqueue 250000          | ns_per_enqueue  | ns/record   | -
history enqueue, observer, lone p50 | history enqueue 250000          | single_p50_ns   | ns/record   | -
history enqueue, observer, lone p99 | history enqueue 250000          | single_p99_ns   | ns/record   | -
history enqueue, observer: syscalls | history enqueue 250000          | syscalls        | syscalls    | -
history_sample enqueue (loop)       | history enqueue 250000          | sample_ns       | ns/record   | -
history_audit enqueue (loop)        | history enqueue 250000          | audit_ns        | ns/record   | -
history writer, db in TMPDIR        | history writer 5                | rows_per_s      | rows/s      | -
history writer, db in /dev/shm      | history writer_shm 5            | rows_per_s      | rows/s      | -
EOF
        if [ "${GORT_BENCH_BIG:-0}" = 1 ]; then
            cat <<'EOF'
GC CPU per MB live, 4000 MB heap    | gc markcost 4000                | cpu_us_per_mb   | us/MB       | 1.0
EOF
        fi
    } | sed -e 's/[[:space:]]*|[[:space:]]*/|/g' -e 's/^[[:space:]]*//' \
        -e 's/[[:space:]]*$//' -e '/^#/d' -e '/^$/d'
}

BENCH_RUNS=${GORT_BENCH_RUNS:-5}
if [ "${GORT_BENCH_BIG:-0}" = 1 ]; then
    BENCH_TIMEOUT=${GORT_BENCH_TIMEOUT:-600}
else
    BENCH_TIMEOUT=${GORT_BENCH_TIMEOUT:-120}
fi

# bench_setup NAME BUILD_DIR: check the arguments, make BENCH_BUILD absolute,
# cd to the source tree, create the scratch directory $work and list the
# selected rows in $work/rows and their distinct commands in $work/commands
# (the line number of a command is its key in the scratch files).
bench_setup() {
    bench_name=$1
    if [ ! -d "$2" ]; then
        echo "$bench_name: build directory $2 does not exist (run make first)" >&2
        exit 1
    fi
    BENCH_BUILD=$(cd "$2" && pwd)
    cd "$(dirname "$0")/.." || exit 1
    case $BENCH_RUNS in
        '' | *[!0-9]* | 0) echo "$bench_name: GORT_BENCH_RUNS must be a positive integer" >&2; exit 1 ;;
    esac
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    trap 'exit 130' INT TERM

    bench_rows | while IFS='|' read -r label cmd metric unit target; do
        case "$label|$cmd" in
            *"${GORT_BENCH_FILTER:-}"*) printf '%s\n' "$label|$cmd|$metric|$unit|$target" ;;
        esac
    done >"$work/rows"
    : >"$work/commands"
    while IFS='|' read -r label cmd metric unit target; do
        grep -Fxq -e "$cmd" "$work/commands" || printf '%s\n' "$cmd" >>"$work/commands"
    done <"$work/rows"
    if [ ! -s "$work/rows" ]; then
        echo "$bench_name: no row matches GORT_BENCH_FILTER=${GORT_BENCH_FILTER:-}" >&2
        exit 1
    fi
    # The gort programs must exist before anything runs.
    while read -r prog _; do
        if [ ! -x "$BENCH_BUILD/bench/$prog" ]; then
            echo "$bench_name: $BENCH_BUILD/bench/$prog is not built (run make)" >&2
            exit 1
        fi
    done <"$work/commands"
}

# bench_key CMD: the key of a command in the scratch files.
bench_key() {
    grep -Fxn -e "$1" "$work/commands" | cut -d: -f1
}

# bench_run IMPL KEY CMD...: run CMD once with the gort (IMPL=gort) or Go
# (IMPL=go) program and append its result line to $work/KEY.IMPL.  After a
# failure the command is not run again for that IMPL; the failure is told on
# stderr and recorded in $work/KEY.IMPL.fail.
bench_run() {
    r_impl=$1 r_key=$2
    shift 2
    r_prog=$1
    shift
    [ -e "$work/$r_key.$r_impl.fail" ] && return 1
    case $r_impl in
        gort) r_bin=$BENCH_BUILD/bench/$r_prog ;;
        go) r_bin=$BENCH_BUILD/bench/go-$r_prog ;;
    esac
    timeout -k 5 "$BENCH_TIMEOUT" "$r_bin" "$@" </dev/null >"$work/out" 2>"$work/err"
    r_rc=$?
    r_line=$(head -n 1 "$work/out")
    r_why=
    if [ "$r_rc" -eq 124 ]; then
        r_why="timed out after ${BENCH_TIMEOUT}s"
    elif [ "$r_rc" -ne 0 ]; then
        r_why="exited with status $r_rc"
    elif [ "$(wc -l <"$work/out")" -ne 1 ]; then
        r_why="printed $(wc -l <"$work/out") lines instead of one result line"
    else
        case $r_line in
            "$1 "*=*) ;;
            *) r_why="printed \"$r_line\", not a result line" ;;
        esac
    fi
    if [ -n "$r_why" ]; then
        {
            echo "$bench_name: $r_impl $r_prog $*: $r_why"
            tail -n 20 "$work/err" | sed 's/^/    /'
        } >&2
        echo "$r_why" >"$work/$r_key.$r_impl.fail"
        return 1
    fi
    printf '%s\n' "$r_line" >>"$work/$r_key.$r_impl"
    printf '%s: %s %s: %s\n' "$r_impl" "$r_prog" "$*" "$r_line" >>"$work/raw"
}

# bench_stats KEY IMPL METRIC: "median min max count" of METRIC over the
# recorded runs, or "FAIL" if a run failed, or "-" if nothing was run.
bench_stats() {
    if [ -e "$work/$1.$2.fail" ]; then
        echo FAIL
        return
    fi
    if [ ! -s "$work/$1.$2" ]; then
        echo -
        return
    fi
    awk -v m="$3" '{
            for (i = 2; i <= NF; i++)
                if (index($i, m "=") == 1)
                    print substr($i, length(m) + 2)
        }' "$work/$1.$2" | sort -g | awk '
        { v[NR] = $1 }
        END {
            if (NR == 0) { print "FAIL"; exit }
            med = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
            print med, v[1], v[NR], NR
        }'
}

# bench_fmt N: a number with as many decimals as are worth reading.
bench_fmt() {
    awk -v x="$1" 'BEGIN {
        if (x !~ /^-?[0-9.]+([eE][-+]?[0-9]+)?$/ || x !~ /[0-9]/) { print x; exit }
        a = x < 0 ? -x : x
        if (a >= 100 || x == int(x)) printf "%.0f\n", x
        else if (a >= 10) printf "%.1f\n", x
        else printf "%.2f\n", x
    }'
}

# bench_table ALIGN: print the tab-separated lines on stdin as a table, the
# first line being the header.  ALIGN has one letter per column, l or r.
bench_table() {
    awk -F'\t' -v align="$1" '
        {
            for (i = 1; i <= NF; i++) {
                c[NR, i] = $i
                if (length($i) > w[i]) w[i] = length($i)
            }
            if (NF > nf) nf = NF
        }
        END {
            for (r = 1; r <= NR; r++) {
                line = ""
                for (i = 1; i <= nf; i++) {
                    f = substr(align, i, 1) == "r" ? "%" w[i] "s" : "%-" w[i] "s"
                    line = line (i > 1 ? "  " : "") sprintf(f, c[r, i])
                }
                sub(/ +$/, "", line)
                print line
                if (r == 1) {
                    line = ""
                    for (i = 1; i <= nf; i++) {
                        rule = sprintf("%" w[i] "s", "")
                        gsub(/ /, "-", rule)
                        line = line (i > 1 ? "  " : "") rule
                    }
                    print line
                }
            }
        }'
}

# bench_failed: true if any run failed.
bench_failed() {
    ls "$work"/*.fail >/dev/null 2>&1
}

# bench_save_raw NAME: keep the result lines of this session in
# BUILD/bench/NAME.log for a closer look.
bench_save_raw() {
    if [ -s "$work/raw" ]; then
        cp "$work/raw" "$BENCH_BUILD/bench/$1.log"
    fi
}
