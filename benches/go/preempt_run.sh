#!/usr/bin/env bash
# Builds and runs preempt_latency and syscall_handoff (procs 1) in goro and in Go 1.19,
# back to back on the same machine, and prints each result with the goro/Go ratio and
# the issue's target: preempt p99 at most 0.6x Go's, progress during a blocking call at
# least 90 % of the undisturbed rate (and the longest stall of the yielding goroutine,
# the P's hand-off delay). Medians of 5 runs on each side; about 30 s.
# Usage: benches/go/preempt_run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
GO=${GO:-/usr/lib/go-1.19/bin/go}
export GOFLAGS=-mod=mod GO111MODULE=on GOPATH=${GOPATH:-/tmp/gopath} GOCACHE=${GOCACHE:-/tmp/gocache}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
(cd benches/go && for s in preempt_latency syscall_handoff; do "$GO" build -o "$out/$s" "./$s"; done)
cargo bench -q -p goro-benches --bench sched_preempt --no-run 2>"$out/build.err" ||
    { cat "$out/build.err"; exit 1; }
declare -A goro go
while read -r name value unit; do goro[$name]="$value $unit"; done < <(
    cargo bench -q -p goro-benches --bench sched_preempt 2>"$out/goro.err" | grep -E '^[a-z_0-9]+ [0-9.]+ ')
while read -r name value unit; do go[$name]="$value $unit"; done < <(
    for s in preempt_latency syscall_handoff; do "$out/$s"; done)
printf '%-22s %14s %14s %7s  %s\n' scenario goro go1.19 ratio target
# goro name:Go name:target ("p" ratio at most p, "%" goro value at least 90 %)
for row in preempt_p50:preempt_p50: preempt_p99:preempt_p99:0.6 preempt_max:preempt_max: \
    preempt_wakeups:preempt_wakeups: syscall_wrapped_pct:syscall_pct:% \
    syscall_unwrapped_pct:syscall_pct:% syscall_wrapped_stall:syscall_stall: \
    syscall_unwrapped_stall:syscall_stall:; do
    IFS=: read -r k gk target <<<"$row"
    a=${goro[$k]:-"- -"}; b=${go[$gk]:-"- -"}
    ra=${a%% *}; rb=${b%% *}
    ratio=$(awk -v a="$ra" -v b="$rb" 'BEGIN { if (b+0 > 0) printf "%.2f", a/b; else print "-" }')
    case $target in
        '') verdict= ;;
        %) verdict=$(awk -v a="$ra" 'BEGIN { print (a+0 >= 90 ? ">= 90 %: met" : ">= 90 %: NOT met") }') ;;
        *) verdict=$(awk -v r="$ratio" -v t="$target" 'BEGIN { print (r != "-" && r+0 <= t ? "<= " t "x: met" : "<= " t "x: NOT met") }') ;;
    esac
    printf '%-22s %14s %14s %7s  %s\n' "$k" "$a" "$b" "$ratio" "$verdict"
done
# What the goro bench said on stderr (a starved sleeper, a panic), not cargo's warnings.
grep -hE '^preempt_latency:|panicked|^error' "$out/goro.err" | sort -u || true
