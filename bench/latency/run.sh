#!/usr/bin/env bash
# Start-up latency of every metadata command, against `node -e 0` measured in
# the same hyperfine run and against `ctr snapshots` (private containerd 1.6)
# when containerd is installed; on a small root (3 snapshots) and on one with
# 10,000. Each table is measured REPEATS times to show how stable it is.
# Writes bench/latency/results.md and the matching section of BENCHMARKS.md.
#   bash bench/latency/run.sh            (after `npm run build`)
# Env: RUNS=15 WARMUP=3 REPEATS=2 N=10000 NODE=node CTR=auto|0 NICE=0
#      CTR_N=N (accept a ctr namespace of at least CTR_N snapshots: filling one
#      through ctr runs at ~10 snapshots/s on a loaded 2-core machine)
#      BENCH_DIR=/tmp/ctrsnap-bench  REF_DIR=$BENCH_DIR/ref (containerd's state)
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${RUNS:-15}; WARMUP=${WARMUP:-3}; REPEATS=${REPEATS:-2}; N=${N:-10000}; NODE=${NODE:-node}
BENCH_DIR=${BENCH_DIR:-/tmp/ctrsnap-bench}; export REF_DIR=${REF_DIR:-$BENCH_DIR/ref}
REF=/work/shared/tools/ref-containerd
OUT=bench/latency/results.md
mkdir -p "$BENCH_DIR"
[ -f dist/ctrsnap.js ] || { echo "run npm run build first" >&2; exit 1; }

CTR=${CTR:-auto}
if [ "$CTR" = auto ]; then if command -v containerd >/dev/null && [ -x "$REF" ]; then CTR=1; else CTR=0; fi; fi

count() { $NODE bin/run.js ls --root "$1" -q 2>/dev/null | wc -l; }
root_for() { # root_for NAME SIZE: a ctrsnap root of SIZE snapshots, generated once
  local r=$BENCH_DIR/$1
  if [ "$(count "$r")" != "$2" ]; then rm -rf "$r"; $NODE bench/latency/gen-root.mjs "$r" "$2" >&2; fi
  echo "$r"
}
ctr_ns() { # ctr_ns NAME SIZE: a containerd namespace of SIZE snapshots, generated once
  local have; have=$("$REF" ctr -n "$1" snapshots ls 2>/dev/null | tail -n +2 | wc -l)
  if [ "$have" -lt "$2" ]; then
    "$REF" ctr -n "$1" snapshots ls 2>/dev/null | tail -n +2 | awk '{print $1}' | sort -r | xargs -r -n 50 "$REF" ctr -n "$1" snapshots rm >/dev/null 2>&1 || true
    bash bench/latency/gen-ctr.sh "$1" "$2" >&2
  fi
}

# table TITLE ROOT NAMESPACE: one hyperfine invocation (floor, ctrsnap, ctr), REPEATS times.
table() {
  local title=$1 root=$2 ns=$3 labels=() cmds=() preps=()
  add() { labels+=("$1"); preps+=("$2"); cmds+=("$3"); }
  local c="$NODE bin/run.js" r="--root $root" x="$REF ctr -n $ns snapshots" q='>/dev/null 2>&1; true'
  add 'floor|node -e 0' true "$NODE -e 0"
  add 'ctrsnap|--version' true "$c --version"
  for who in ctrsnap ctr; do
    if [ $who = ctrsnap ]; then p="$c"; a="$r"; else [ "$CTR" = 1 ] || continue; p="$x"; a=""; fi
    add "$who|ls" true "$p ls $a"
    add "$who|info bench-base" true "$p info $a bench-base"
    add "$who|tree" true "$p tree $a"
    add "$who|usage bench-base" true "$p usage $a bench-base"
    add "$who|usage (every snapshot)" true "$p usage $a"
    add "$who|mounts /mnt/x bench-active" true "$p mounts $a /mnt/x bench-active"
    add "$who|label bench-base" true "$p label $a bench-base"
    add "$who|label bench-base bench=1" true "$p label $a bench-base bench=1"
    add "$who|prepare bench-new bench-base" "sh -c '$p rm $a bench-new $q'" "$p prepare $a bench-new bench-base"
    add "$who|rm bench-new" "sh -c '$p prepare $a bench-new bench-base $q'" "$p rm $a bench-new"
    add "$who|commit bench-c bench-new" "sh -c '$p rm $a bench-c $q; $p prepare $a bench-new bench-base $q'" "$p commit $a bench-c bench-new"
  done
  local files=() args=()
  for i in "${!cmds[@]}"; do args+=(--prepare "${preps[$i]}"); done
  for rep in $(seq "$REPEATS"); do
    local f; f=$(mktemp "$BENCH_DIR/hf.XXXXXX.json")
    echo "== $title, repeat $rep/$REPEATS (load: $(cut -d' ' -f1-3 /proc/loadavg))" >&2
    nice -n "${NICE:-0}" hyperfine -N --style basic --warmup "$WARMUP" --runs "$RUNS" "${args[@]}" --export-json "$f" "${cmds[@]}" >/dev/null
    files+=("$f")
  done
  # Leave the root and namespace as generated, so the next run can reuse them.
  for k in bench-c bench-new; do $c rm $r $k >/dev/null 2>&1 || true; if [ "$CTR" = 1 ]; then $x rm $k >/dev/null 2>&1 || true; fi; done
  echo "### $title"
  echo
  LABELS=$(IFS=$'\t'; echo "${labels[*]}") $NODE bench/latency/table.mjs "${files[@]}"
  echo
  rm -f "${files[@]}"
}

if [ "$CTR" = 1 ]; then "$REF" start >&2; ctr_ns ctrsnap-bench-small 3; ctr_ns ctrsnap-bench-10k "${CTR_N:-$N}"; fi
ctr_count() { "$REF" ctr -n "$1" snapshots ls | tail -n +2 | wc -l; }
SMALL=$(root_for small 3); BIG=$(root_for 10k "$N")
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
{
  echo "Produced by \`bash bench/latency/run.sh\` (RUNS=$RUNS WARMUP=$WARMUP REPEATS=$REPEATS), started $(date -u '+%Y-%m-%d %H:%M UTC'):"
  echo "$(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), Linux $(uname -r), $($NODE -v), $(hyperfine --version)$([ "$CTR" = 1 ] && echo ", $(ctr --version | cut -d' ' -f3) (private daemon, namespaces ctrsnap-bench-small/-10k)")."
  echo "Roots: \`$SMALL\` (3 snapshots: bench-base, bench-active, bench-view) and \`$BIG\` ($N, from bench/latency/gen-root.mjs), overlayfs."
  [ "$CTR" = 1 ] && echo "ctr: namespaces with $(ctr_count ctrsnap-bench-small) and $(ctr_count ctrsnap-bench-10k) snapshots (bench/latency/gen-ctr.sh), overlayfs snapshotter."
  [ "${NICE:-0}" != 0 ] && echo "hyperfine ran under \`nice -n $NICE\` (every command, the floor too) to keep other users' jobs from dominating the medians."
  echo
  table "Small root (3 snapshots)" "$SMALL" ctrsnap-bench-small
  table "Root with $N snapshots" "$BIG" ctrsnap-bench-10k
  echo "Load average before/after: $LOAD0 / $(cut -d' ' -f1-3 /proc/loadavg) (2 shared cores: compare ratios, not absolute ms)."
} > "$OUT.tmp"
mv "$OUT.tmp" "$OUT"
cat "$OUT"
# Splice into BENCHMARKS.md between the markers, if it has them.
if grep -q '<!-- latency:begin -->' BENCHMARKS.md 2>/dev/null; then
  $NODE -e '
    const fs = require("fs"); const [md, res] = process.argv.slice(1)
    const s = fs.readFileSync(md, "utf8"), t = fs.readFileSync(res, "utf8")
    fs.writeFileSync(md, s.replace(/<!-- latency:begin -->[\s\S]*<!-- latency:end -->/, () => `<!-- latency:begin -->\n${t}<!-- latency:end -->`))
  ' BENCHMARKS.md "$OUT"
fi
