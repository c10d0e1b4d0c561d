#!/usr/bin/env bash
# Builds and runs the sync scenarios in goro (and std, parking_lot, tokio::sync; printed
# by the same bench binary) and in Go 1.19, back to back on the same machine, and prints
# each median with goro's ratio to each of them.
# Usage: benches/go/sync_run.sh   (GORO_BENCH_N overrides N, default 4,000,000 ops)
set -euo pipefail
cd "$(dirname "$0")/../.."
GO=${GO:-/usr/lib/go-1.19/bin/go}
export GOFLAGS=-mod=mod GO111MODULE=on GOPATH=${GOPATH:-/tmp/gopath} GOCACHE=${GOCACHE:-/tmp/gocache}
out=$(mktemp -d)
(cd benches/go && "$GO" build -o "$out/sync_mutex" ./sync_mutex)
cargo bench -q -p goro-benches --bench sync_mutex --no-run 2>/dev/null
# goro[name] holds goro's lines and its peers' (`std_<name>`, `parking_lot_<name>`, `tokio_<name>`).
declare -A goro go
while read -r name value unit; do goro[$name]="$value $unit"; done < <(
    cargo bench -q -p goro-benches --bench sync_mutex 2>/dev/null | grep -E '^[a-z_0-9]+ [0-9.]+ ')
while read -r name value unit; do go[$name]="$value $unit"; done < <("$out/sync_mutex")
ratio() { awk -v a="${1%% *}" -v b="${2%% *}" 'BEGIN { if (b+0 > 0) printf "%.2f", a/b; else print "-" }'; }
printf '%-19s %11s %11s %11s %11s %11s %8s %8s %8s %8s\n' scenario goro go1.19 std \
    parking_lot tokio goro/go goro/std goro/pl goro/tok
for k in mutex_contended rwmutex_read_heavy rwmutex_read_only mutex_uncontended; do
    a=${goro[$k]:-"- -"}; b=${go[$k]:-"- -"}; c=${goro[std_$k]:-"- -"}
    p=${goro[parking_lot_$k]:-"- -"}; t=${goro[tokio_$k]:-"- -"}
    printf '%-19s %11s %11s %11s %11s %11s %8s %8s %8s %8s\n' "$k" "$a" "$b" "$c" "$p" "$t" \
        "$(ratio "$a" "$b")" "$(ratio "$a" "$c")" "$(ratio "$a" "$p")" "$(ratio "$a" "$t")"
done
rm -rf "$out"
