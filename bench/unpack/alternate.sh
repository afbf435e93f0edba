#!/usr/bin/env bash
# Interleaved timing: run each command once per round, in turn, for ROUNDS
# rounds, and print each one's median, min and max wall time (ms). On a shared
# machine whose load drifts, hyperfine's command-after-command order can favour
# whichever command ran in a quiet minute; interleaving spreads the drift over
# all of them. Before every run, SCRATCH is removed (the commands write there).
# Usage: bench/unpack/alternate.sh ROUNDS SCRATCH CMD...
set -euo pipefail
rounds=$1 scratch=$2
shift 2
declare -a times
for ((r = 0; r < rounds; r++)); do
  for ((i = 0; i < $#; i++)); do
    cmd=${*:i+1:1}
    rm -rf "$scratch"
    s=$(date +%s%N)
    bash -c "$cmd" >/dev/null
    e=$(date +%s%N)
    times[i]="${times[i]:-} $(((e - s) / 1000000))"
  done
done
for ((i = 0; i < $#; i++)); do
  echo "${times[i]}" | tr ' ' '\n' | grep . | sort -n |
    awk -v c="${*:i+1:1}" '{a[NR] = $1} END {printf "median %5d ms  min %5d  max %5d  n=%d  %s\n", a[int((NR + 1) / 2)], a[1], a[NR], NR, c}'
done
