#!/bin/sh
# Fuzz the control protocol module with libFuzzer for SECONDS seconds.
#
#   tests/fuzz/run.sh SECONDS
#
# Builds build/fuzz/fuzz_proto with ASan and UBSan (any UBSan report is
# fatal, so that it counts as a crash), then runs it from a scratch copy
# of tests/fuzz/corpus so that the checked-in seeds stay as they are.
# Crash inputs land in build/fuzz/.  Exits with the fuzzer's status.
set -u
if [ $# -ne 1 ]; then
    echo "usage: $0 SECONDS" >&2
    exit 2
fi
secs=$1
if ! command -v clang >/dev/null 2>&1; then
    echo "fuzz: clang not found, skipped (apt-get install clang)"
    exit 0
fi
cd "$(dirname "$0")/../.." || exit 1

out=build/fuzz
mkdir -p "$out" || exit 1
libs=$(pkg-config --libs jansson 2>/dev/null || echo -ljansson)
# shellcheck disable=SC2086
clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -std=gnu11 -D_GNU_SOURCE \
    -Iinclude -iquote proto -o "$out/fuzz_proto" tests/fuzz/fuzz_proto.c proto/proto.c $libs || exit 1

scratch=$(mktemp -d) || exit 1
log=$out/fuzz.log
trap 'rm -rf "$scratch"' EXIT
cp tests/fuzz/corpus/* "$scratch"/ || exit 1

"$out/fuzz_proto" -max_total_time="$secs" -max_len=4096 -rss_limit_mb=1024 \
    -artifact_prefix="$out/" "$scratch" >"$log" 2>&1
rc=$?
if [ "$rc" -ne 0 ]; then
    tail -n 40 "$log"
    echo "fuzz: failed with status $rc (full log in $log)"
    exit "$rc"
fi
summary=$(sed -n 's/^Done \([0-9]*\) runs in \([0-9]*\) second.*/\1 runs in \2 s/p' "$log" | tail -n 1)
echo "fuzz: ${summary:-? runs}, no crash"
exit 0
