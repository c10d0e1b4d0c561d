#!/usr/bin/env bash
# Builds and runs the sync scenarios in goro (and std) and in Go 1.19, back to back on
# the same machine, and prints each median with the goro/Go and goro/std ratios.
# Usage: benches/go/sync_run.sh   (GORO_BENCH_N overrides N, default 4,000,000 ops)
set -euo pipefail
cd "$(dirname "$0")/../.."
GO=${GO:-/usr/lib/go-1.19/bin/go}
export GOFLAGS=-mod=mod GO111MODULE=on GOPATH=${GOPATH:-/tmp/gopath} GOCACHE=${GOCACHE:-/tmp/gocache}
out=$(mktemp -d)
(cd benches/go && "$GO" build -o "$out/sync_mutex" ./sync_mutex)
cargo bench -q -p goro-benches --bench sync_mutex --no-run 2>/dev/null
declare -A goro go
while read -r name value unit; do goro[$name]="$value $unit"; done < <(
    cargo bench -q -p goro-benches --bench sync_mutex 2>/dev/null | grep -E '^[a-z_0-9]+ [0-9.]+ ')
while read -r name value unit; do go[$name]="$value $unit"; done < <("$out/sync_mutex")
printf '%-20s %14s %14s %14s %9s %9s\n' scenario goro go1.19 std goro/go goro/std
for k in mutex_contended rwmutex_read_heavy mutex_uncontended; do
    a=${goro[$k]:-"- -"}; b=${go[$k]:-"- -"}; c=${goro[std_$k]:-"- -"}
    ra=${a%% *}; rb=${b%% *}; rc=${c%% *}
    r1=$(awk -v a="$ra" -v b="$rb" 'BEGIN { if (b+0 > 0) printf "%.2f", a/b; else print "-" }')
    r2=$(awk -v a="$ra" -v b="$rc" 'BEGIN { if (b+0 > 0) printf "%.2f", a/b; else print "-" }')
    printf '%-20s %14s %14s %14s %9s %9s\n' "$k" "$a" "$b" "$c" "$r1" "$r2"
done
rm -rf "$out"
