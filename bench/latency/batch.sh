#!/usr/bin/env bash
# 1,000 mixed snapshot operations three ways: one `ctrsnap batch` run (and one
# `batch --atomic`), the same 1,000 through `ctr snapshots` on a warm private
# containerd 1.6, and 1,000 separate ctrsnap calls. The operations cycle
# through: prepare on a committed parent, label, commit, info, ls (of a small
# root: base plus the snapshot in flight), rm. Each way runs on a fresh store
# (overlayfs, with `base` committed beforehand, untimed), REPEATS times; the
# table gives the median wall time and the spread, and the load average.
#   bash bench/latency/batch.sh            (after `npm run build`)
# Env: OPS=1000 REPEATS=3 CALLS_REPEATS=1 CALLS_OPS=$OPS (separate ctrsnap
#      calls take minutes on a loaded machine: with CALLS_OPS < OPS the first
#      CALLS_OPS operations run and the time is scaled to OPS, and the table says so)
#      BENCH_DIR=/tmp/ctrsnap-bench-batch
#      REF_DIR=$BENCH_DIR/ref (the private containerd's state)  OUT=bench/latency/batch.md
set -euo pipefail
cd "$(dirname "$0")/../.."
OPS=${OPS:-1000}; REPEATS=${REPEATS:-3}; CALLS_REPEATS=${CALLS_REPEATS:-1}; CALLS_OPS=${CALLS_OPS:-$OPS}
BENCH_DIR=${BENCH_DIR:-/tmp/ctrsnap-bench-batch}; export REF_DIR=${REF_DIR:-$BENCH_DIR/ref}
REF=/work/shared/tools/ref-containerd
OUT=${OUT:-bench/latency/batch.md}
[ -f dist/ctrsnap.js ] || { echo "run npm run build first" >&2; exit 1; }
mkdir -p "$BENCH_DIR"
CTRSNAP="node $PWD/bin/run.js"

# The operations, one per line, without the program name.
ops() {
  local n=0 i=0
  while :; do
    i=$((i + 1))
    for op in "prepare w$i base" "label w$i k=v" "commit c$i w$i" "info c$i" "ls" "rm c$i"; do
      [ $n -lt "$OPS" ] || return 0
      echo "$op"; n=$((n + 1))
    done
  done
}
ops > "$BENCH_DIR/ops.txt"

fresh_root() { # a new ctrsnap root with base committed
  local r=$BENCH_DIR/root
  rm -rf "$r"
  $CTRSNAP prepare --root "$r" base-w && $CTRSNAP commit --root "$r" base base-w
  echo "$r"
}
now() { date +%s.%N; }
since() { echo "$(now) - $1" | bc; }

"$REF" start >&2
SOCK=$REF_DIR/containerd.sock
fresh_ns() { # a new containerd namespace with base committed
  local ns=batch-$$-$1
  ctr -a "$SOCK" -n "$ns" snapshots prepare base-w >/dev/null
  ctr -a "$SOCK" -n "$ns" snapshots commit base base-w
  echo "$ns"
}
# Warm the daemon (and the page cache of ctr's binary).
for _ in 1 2 3; do ctr -a "$SOCK" snapshots ls >/dev/null; done

declare -A T
run_way() { # run_way WAY REP: one timed run, its seconds appended to T[WAY]
  local way=$1 rep=$2 t root ns
  case $way in
    batch|atomic)
      root=$(fresh_root)
      local flag=(); [ "$way" = atomic ] && flag=(--atomic)
      t=$(now); $CTRSNAP batch "${flag[@]}" --root "$root" "$BENCH_DIR/ops.txt" >/dev/null; t=$(since "$t") ;;
    ctr)
      ns=$(fresh_ns "$rep")
      t=$(now)
      while read -r -a w; do ctr -a "$SOCK" -n "$ns" snapshots "${w[@]}" >/dev/null; done < "$BENCH_DIR/ops.txt"
      t=$(since "$t") ;;
    calls)
      root=$(fresh_root)
      t=$(now)
      while read -r -a w; do $CTRSNAP "${w[@]}" --root "$root" >/dev/null; done < <(head -n "$CALLS_OPS" "$BENCH_DIR/ops.txt")
      t=$(echo "$(since "$t") * $OPS / $CALLS_OPS" | bc -l) ;;
  esac
  T[$way]="${T[$way]:-} $t"
  echo "$way run $rep: ${t}s" >&2
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for rep in $(seq "$REPEATS"); do
  for way in batch atomic ctr; do run_way $way "$rep"; done
  [ "$rep" -le "$CALLS_REPEATS" ] && run_way calls "$rep"
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {print (NR % 2 ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2)}'; }
range() { tr ' ' '\n' | grep . | sort -g | awk 'NR==1{lo=$1} {hi=$1} END {printf "%.2f-%.2f", lo, hi}'; }
ctr_med=$(echo "${T[ctr]}" | median)
{
  echo "| way | runs | median (s) | range (s) | per operation (ms) | vs ctr |"
  echo "|---|---|---|---|---|---|"
  for way in batch atomic ctr calls; do
    m=$(echo "${T[$way]}" | median)
    n=$(echo "${T[$way]}" | wc -w)
    label=$(case $way in batch) echo "\`ctrsnap batch\` ($OPS lines)";; atomic) echo "\`ctrsnap batch --atomic\`";; ctr) echo "$OPS \`ctr snapshots\` calls";; calls) if [ "$CALLS_OPS" = "$OPS" ]; then echo "$OPS \`ctrsnap\` calls"; else echo "$OPS \`ctrsnap\` calls (the first $CALLS_OPS run, time scaled)"; fi;; esac)
    printf '| %s | %s | %.2f | %s | %.1f | %s |\n' "$label" "$n" "$m" "$(echo "${T[$way]}" | range)" "$(echo "$m * 1000 / $OPS" | bc -l)" "$(echo "$ctr_med / $m" | bc -l | xargs printf '%.1fx faster')"
  done
  echo
  echo "Load average (1, 5, 15 min) before: $load_before; after: $load_after; $(nproc) cores. Command: \`OPS=$OPS REPEATS=$REPEATS CALLS_REPEATS=$CALLS_REPEATS CALLS_OPS=$CALLS_OPS bash bench/latency/batch.sh\`."
} > "$OUT"
cat "$OUT"
