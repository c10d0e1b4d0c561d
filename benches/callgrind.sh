#!/usr/bin/env bash
# Instructions per coroutine switch round trip (and per create+run+drop), goro against
# corosensei, counted by callgrind: noise-free, unlike wall-clock time on a shared box.
#
# Each figure is (I(2N) - I(N)) / N, so start-up and set-up costs cancel out.
# Usage: benches/callgrind.sh [N]   (default N = 200000)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-200000}
cargo build --release -q -p goro-benches --bin switch_loop
BIN=target/release/switch_loop
command -v valgrind >/dev/null || { echo "valgrind not installed" >&2; exit 1; }

count() { # which what n -> total instructions
    local out
    out=$(mktemp)
    valgrind --tool=callgrind --callgrind-out-file="$out" "$BIN" "$1" "$2" "$3" >/dev/null 2>&1
    awk '/^summary:/ {print $2}' "$out"
    rm -f "$out"
}

per_iter() { # which what
    local a b
    a=$(count "$1" "$2" "$N")
    b=$(count "$1" "$2" $((2 * N)))
    awk -v a="$a" -v b="$b" -v n="$N" 'BEGIN { printf "%.1f", (b - a) / n }'
}

printf '%-24s %12s %12s %8s\n' scenario goro corosensei ratio
for what in round_trip create; do
    g=$(per_iter goro "$what")
    c=$(per_iter corosensei "$what")
    r=$(awk -v g="$g" -v c="$c" 'BEGIN { printf "%.2f", g / c }')
    printf '%-24s %12s %12s %8s\n' "instructions/$what" "$g" "$c" "$r"
done
