#!/bin/sh
# bench.sh -- run the benchmarks (`make bench`; BENCH_QUICK=1 for a short run).
#   sh scripts/bench.sh TEND_BINARY BENCH_BINARY
# The work is in scripts/bench/ (one file per scenario); this only checks the arguments and the
# tools the scenarios need.
set -eu
if [ $# -ne 2 ]; then
    echo "usage: sh scripts/bench.sh TEND_BINARY BENCH_BINARY" >&2
    exit 2
fi
tend=$1 bench=$2
for f in "$tend" "$bench"; do
    [ -x "$f" ] || { echo "bench: $f: not an executable (run make first)" >&2; exit 2; }
done
[ -x /bin/true ] || { echo "bench: /bin/true is missing" >&2; exit 2; }
command -v sleep >/dev/null 2>&1 || { echo "bench: sleep is not in PATH" >&2; exit 2; }
exec "$bench" "$tend"
