#!/usr/bin/env bash
# Builds and runs the scheduler scenarios in goro, its Rust peers (may, tokio; printed
# by the same bench binaries) and Go 1.19, back to back on the same machine, and prints
# each median with the goro/Go, goro/may and goro/tokio ratios.
# Usage: benches/go/run.sh   (GORO_BENCH_N overrides N for all scenarios)
set -euo pipefail
cd "$(dirname "$0")/../.."
GO=${GO:-/usr/lib/go-1.19/bin/go}
export GOFLAGS=-mod=mod GO111MODULE=on GOPATH=${GOPATH:-/tmp/gopath} GOCACHE=${GOCACHE:-/tmp/gocache}
out=$(mktemp -d)
(cd benches/go && for s in spawn_join yield park_1m; do "$GO" build -o "$out/$s" "./$s"; done)
cargo bench -q -p goro-benches --bench sched_spawn_join --bench sched_yield --bench sched_park_1m --no-run 2>/dev/null
# goro[name] holds goro's lines and its peers' (`<name>_may`, `<name>_tokio`).
declare -A goro go
while read -r name value unit; do goro[$name]="$value $unit"; done < <(
    cargo bench -q -p goro-benches --bench sched_spawn_join --bench sched_yield --bench sched_park_1m 2>/dev/null | grep -E '^[a-z_0-9]+ [0-9.]+ ')
while read -r name value unit; do go[$name]="$value $unit"; done < <(
    for s in spawn_join yield park_1m; do "$out/$s"; done)
ratio() { awk -v a="${1%% *}" -v b="${2%% *}" 'BEGIN { if (b+0 > 0) printf "%.2f", a/b; else print "-" }'; }
printf '%-16s %22s %22s %22s %22s %8s %8s %8s\n' \
    scenario goro go1.19 may tokio goro/go goro/may goro/tok
for k in spawn_join yield park_1m_create park_1m_mem park_1m_maps; do
    a=${goro[$k]:-"- -"}; b=${go[$k]:-"- -"}; m=${goro[${k}_may]:-"- -"}; t=${goro[${k}_tokio]:-"- -"}
    # may runs spawn_join at a smaller N (vm.max_map_count): compare with goro at that N.
    am=$a; [[ $k == spawn_join && -n ${goro[spawn_join_goro_n_may]:-} ]] && am=${goro[spawn_join_goro_n_may]}
    printf '%-16s %22s %22s %22s %22s %8s %8s %8s\n' "$k" "$a" "$b" "$m" "$t" \
        "$(ratio "$a" "$b")" "$(ratio "$am" "$m")" "$(ratio "$a" "$t")"
done
if [[ -n ${goro[spawn_join_n_may]:-} ]]; then
    printf 'may spawn_join: N = %.0f (vm.max_map_count); goro at that N: %s (used for goro/may)\n' \
        "${goro[spawn_join_n_may]%% *}" "${goro[spawn_join_goro_n_may]:-?}"
fi
if [[ -n ${goro[park_1m_n_may]:-} ]]; then
    printf 'may park_1m: N = %.0f (vm.max_map_count); goro, Go and tokio: N as above\n' \
        "${goro[park_1m_n_may]%% *}"
fi
rm -rf "$out"
