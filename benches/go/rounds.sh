#!/usr/bin/env bash
# Runs one of the side-by-side scripts (run.sh, chan_run.sh, sync_run.sh, ...) several
# times and prints, per scenario, the median goro/Go ratio over the rounds with its range
# (min-max) and every round's ratio: on a shared, noisy machine one round's ratio can
# swing by a quarter either way, so a claim against Go should rest on several.
# Usage: benches/go/rounds.sh SCRIPT [ROUNDS]   (default 5 rounds)
#   e.g. benches/go/rounds.sh benches/go/sync_run.sh 5
set -euo pipefail
script=${1:?usage: rounds.sh SCRIPT [ROUNDS]}
rounds=${2:-5}
[[ $rounds =~ ^[1-9][0-9]*$ ]] || { echo "rounds.sh: ROUNDS must be a positive integer, got '$rounds'" >&2; exit 2; }
log=$(mktemp)
for ((r = 1; r <= rounds; r++)); do
    echo "round $r/$rounds: $script" >&2
    echo "@round $r" >>"$log"
    "$script" >>"$log"
done
python3 - "$log" "$rounds" <<'PY'
import sys, statistics
log, rounds = sys.argv[1], int(sys.argv[2])
col, ratios, order = None, {}, []
for line in open(log):
    f = line.split()
    if not f or f[0] == "@round":
        continue
    if f[0] == "scenario":
        col = f.index("goro/go") - len(f) if "goro/go" in f else None
        continue
    if col is None or len(f) < -col:
        continue
    try:
        v = float(f[col])
    except ValueError:
        continue
    if f[0] not in ratios:
        ratios[f[0]] = []
        order.append(f[0])
    ratios[f[0]].append(v)
print(f"{'scenario':<36} {'median goro/go':>15} {'range':>13}  rounds")
for k in order:
    v = ratios[k]
    print(f"{k:<36} {statistics.median(v):>15.2f} {min(v):>6.2f}-{max(v):<6.2f}  "
          + " ".join(f"{x:.2f}" for x in v))
PY
rm -f "$log"
