#!/usr/bin/env bash
# Builds and runs the channel scenarios in goro, its Rust peers (crossbeam-channel on
# threads, may, tokio; printed by the same bench binaries, chan_*.rs) and Go 1.19
# (chan_peers.go), back to back on the same machine, and prints each figure with goro's
# ratio to each peer.
# Usage: benches/go/chan_run.sh   (GORO_BENCH_N overrides N for all Rust scenarios)
set -euo pipefail
cd "$(dirname "$0")/../.."
GO=${GO:-/usr/lib/go-1.19/bin/go}
export GOFLAGS=-mod=mod GO111MODULE=on GOPATH=${GOPATH:-/tmp/gopath} GOCACHE=${GOCACHE:-/tmp/gocache}
benches=(--bench chan_pingpong_unbuffered --bench chan_buffered --bench chan_select2 --bench chan_timers)
out=$(mktemp -d)
(cd benches/go && "$GO" build -o "$out/chan_peers" chan_peers.go)
cargo bench -q -p goro-benches "${benches[@]}" --no-run 2>/dev/null
# goro[name] holds goro's lines and its peers' (`<name>/<peer>`).
declare -A goro go
while read -r name value unit; do goro[$name]="$value $unit"; done < <(
    cargo bench -q -p goro-benches "${benches[@]}" 2>/dev/null | grep -E '^[a-z_0-9/]+ [0-9.]+ ')
while read -r name value unit; do go[$name]="$value $unit"; done < <("$out/chan_peers")
ratio() { awk -v a="${1%% *}" -v b="${2%% *}" 'BEGIN { if (b+0 > 0) printf "%.2f", a/b; else print "-" }'; }
f='%-27s %18s %18s %20s %18s %18s %7s %7s %8s %8s\n'
printf "$f" scenario goro go1.19 crossbeam_threads may tokio goro/go goro/cb goro/may goro/tok
for k in pingpong_unbuffered/procs1 pingpong_unbuffered/procs2 chan_buffered/spsc \
    chan_buffered/mpmc4x4 select2/unbuffered select2/cap128 \
    timers/sleep/p50 timers/sleep/p99 timers/sleep/max \
    timers/after/p50 timers/after/p99 timers/after/max; do
    a=${goro[$k]:-"-"}; b=${go[$k]:-"-"}; m=${goro[$k/may]:-"-"}; t=${goro[$k/tokio]:-"-"}
    # ping-pong's crossbeam pair is two OS threads, one figure for both rows.
    ck=$k/crossbeam_threads; [[ $k == pingpong_unbuffered/* ]] && ck=pingpong_unbuffered/crossbeam_threads
    c=${goro[$ck]:-"-"}
    printf "$f" "$k" "$a" "$b" "$c" "$m" "$t" \
        "$(ratio "$a" "$b")" "$(ratio "$a" "$c")" "$(ratio "$a" "$m")" "$(ratio "$a" "$t")"
done
echo 'tokio: mpsc capacity 1 for the unbuffered rows (it has no unbuffered channel), no mpmc;'
echo 'may: unbounded channels (it has no bounded one), no select2 (its select! loses values).'
if [[ -n ${goro[timers/sleep/n_may]:-} ]]; then
    printf 'may timers: N = %.0f (vm.max_map_count); goro, Go and tokio: 100,000\n' \
        "${goro[timers/sleep/n_may]%% *}"
fi
rm -rf "$out"
