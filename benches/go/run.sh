#!/usr/bin/env bash
# Builds and runs the scheduler scenarios in goro and in Go 1.19, back to back on the
# same machine, and prints each result with the goro/Go ratio.
# Usage: benches/go/run.sh   (GORO_BENCH_N overrides N for all scenarios)
set -euo pipefail
cd "$(dirname "$0")/../.."
GO=${GO:-/usr/lib/go-1.19/bin/go}
export GOFLAGS=-mod=mod GO111MODULE=on GOPATH=${GOPATH:-/tmp/gopath} GOCACHE=${GOCACHE:-/tmp/gocache}
out=$(mktemp -d)
(cd benches/go && for s in spawn_join yield park_1m; do "$GO" build -o "$out/$s" "./$s"; done)
cargo bench -q -p goro-benches --bench sched_spawn_join --bench sched_yield --bench sched_park_1m --no-run 2>/dev/null
declare -A goro go
while read -r name value unit; do goro[$name]="$value $unit"; done < <(
    cargo bench -q -p goro-benches --bench sched_spawn_join --bench sched_yield --bench sched_park_1m 2>/dev/null | grep -E '^[a-z_0-9]+ [0-9.]+ ')
while read -r name value unit; do go[$name]="$value $unit"; done < <(
    for s in spawn_join yield park_1m; do "$out/$s"; done)
printf '%-22s %22s %22s %8s\n' scenario goro go1.19 ratio
for k in spawn_join yield park_1m_create park_1m_mem park_1m_maps; do
    a=${goro[$k]:-"- -"}; b=${go[$k]:-"- -"}
    ra=${a%% *}; rb=${b%% *}
    ratio=$(awk -v a="$ra" -v b="$rb" 'BEGIN { if (b+0 > 0) printf "%.2f", a/b; else print "-" }')
    printf '%-22s %22s %22s %8s\n' "$k" "$a" "$b" "$ratio"
done
rm -rf "$out"
