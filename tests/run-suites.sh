#!/bin/sh
# Run every cmocka suite in $1/tests (default build/tests) and end with one
# line "N passed, M failed".  A suite that dies before printing cmocka's
# summary counts as one failure.  Exit status is 1 when anything failed.
#
# GORT_TEST_FILTER=substring runs only the suites whose name contains it.
# GORT_SUITE_TIMEOUT (seconds, default 600) bounds each suite.
set -u
dir=${1:-build}/tests
timeout_s=${GORT_SUITE_TIMEOUT:-600}
passed=0
failed=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

for t in "$dir"/test_*; do
    [ -x "$t" ] || continue
    case "$t" in *.d) continue ;; esac
    name=$(basename "$t")
    if [ -n "${GORT_TEST_FILTER:-}" ]; then
        case "$name" in *"$GORT_TEST_FILTER"*) ;; *) continue ;; esac
    fi
    echo "=== $name"
    GORT_TEST_BUILD_DIR=${1:-build} timeout -k 10 "$timeout_s" "$t" >"$log" 2>&1
    rc=$?
    cat "$log"
    p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -n 1)
    f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -n 1)
    p=${p:-0}
    f=${f:-0}
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "*** $name exited with status $rc without a failure summary" >&2
        f=1
    fi
    passed=$((passed + p))
    failed=$((failed + f))
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
