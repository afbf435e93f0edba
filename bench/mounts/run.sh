#!/usr/bin/env bash
# Deep chains and cleanup: wall time of `view --mount` and `unmount --rm` on
# views of 128- and 500-layer chains (overlayfs, relative lowerdirs), and of
# `cleanup` on a root of 10,000 snapshots, clean and with 100 orphan snapshot
# directories plus 100 dead temp directories to reclaim. `node -e 0` runs in
# the same hyperfine invocation as the floor. Needs root (real mounts).
# Writes bench/mounts/results.md and the matching section of BENCHMARKS.md.
#   bash bench/mounts/run.sh            (after `npm run build`)
# Env: RUNS=15 WARMUP=3 REPEATS=2 N=10000 NODE=node BENCH_DIR=/tmp/ctrsnap-bench NICE=0
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${RUNS:-15}; WARMUP=${WARMUP:-3}; REPEATS=${REPEATS:-2}; N=${N:-10000}; NODE=${NODE:-node}
BENCH_DIR=${BENCH_DIR:-/tmp/ctrsnap-bench}
OUT=bench/mounts/results.md
mkdir -p "$BENCH_DIR"
[ "$(id -u)" = 0 ] || { echo "needs root: it mounts" >&2; exit 1; }
C="$NODE bin/run.js"
count() { $C ls --root "$1" -q 2>/dev/null | wc -l; }
gen() { # gen DIR SIZE [--chain]: generated once, reused while it has the right size
  local r=$BENCH_DIR/$1
  if [ "$(count "$r")" != "$2" ]; then rm -rf "$r"; $NODE bench/latency/gen-root.mjs $3 "$r" "$2" >&2; fi
  echo "$r"
}
# Before timing: the view mounts and reads through all layers.
check_chain() {
  local r=$1 d=$2 t=$BENCH_DIR/mnt-check
  $C view --root "$r" -t "$t" --mount check "chain-$((d - 1))" >/dev/null
  local files; files=$(ls "$t" | wc -l)
  $C unmount --root "$r" --rm "$t"
  [ "$files" = "$d" ] || { echo "view of $d layers shows $files files" >&2; exit 1; }
}

labels=(); cmds=(); preps=()
add() { labels+=("$1"); preps+=("$2"); cmds+=("$3"); }
add 'floor|node -e 0' true "$NODE -e 0"
for d in 128 500; do
  r=$(gen "chain$d" $d "--chain $d"); check_chain "$r" $d
  t=$BENCH_DIR/mnt$d; q='>/dev/null 2>&1; true'
  add "ctrsnap|view --mount ($d layers)" "sh -c '$C unmount --root $r --rm $t $q'" "$C view --root $r -t $t --mount v chain-$((d - 1))"
  add "ctrsnap|unmount --rm ($d layers)" "sh -c '$C view --root $r -t $t --mount v chain-$((d - 1)) $q'" "$C unmount --root $r --rm $t"
done
big=$(gen 10k "$N" "")
# 100 orphan snapshot directories (ids no record has) and 100 temp dirs of a dead pid.
LEFTOVERS="for i in \$(seq 100); do mkdir -p $big/overlayfs/snapshots/50000\$i/fs $big/overlayfs/snapshots/new-999999-\$i/fs; done"
sh -c "$LEFTOVERS"
reclaimed=$($C cleanup --root "$big" | tail -1)
[[ $reclaimed == "reclaimed 200 items"* ]] || { echo "cleanup did not reclaim the 200 leftovers: $reclaimed" >&2; exit 1; }
add "ctrsnap|cleanup ($N snapshots, nothing to do)" true "$C cleanup --root $big"
add "ctrsnap|cleanup --dry-run ($N snapshots, 200 leftovers)" \
  "sh -c '$LEFTOVERS'" "$C cleanup --root $big --dry-run"
add "ctrsnap|cleanup ($N snapshots, 200 leftovers)" \
  "sh -c '$LEFTOVERS'" "$C cleanup --root $big"

args=(); for i in "${!cmds[@]}"; do args+=(--prepare "${preps[$i]}"); done
files=(); LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
for rep in $(seq "$REPEATS"); do
  f=$(mktemp "$BENCH_DIR/hf.XXXXXX.json")
  echo "== mounts and cleanup, repeat $rep/$REPEATS (load: $(cut -d' ' -f1-3 /proc/loadavg))" >&2
  nice -n "${NICE:-0}" hyperfine -N --style basic --warmup "$WARMUP" --runs "$RUNS" "${args[@]}" --export-json "$f" "${cmds[@]}" >/dev/null
  files+=("$f")
done
# Leave the roots as generated: nothing mounted, no leftovers.
for d in 128 500; do $C unmount --root "$BENCH_DIR/chain$d" --rm "$BENCH_DIR/mnt$d" >/dev/null 2>&1 || true; done
$C cleanup --root "$big" >/dev/null
{
  echo "Produced by \`bash bench/mounts/run.sh\` (RUNS=$RUNS WARMUP=$WARMUP REPEATS=$REPEATS) on $(date -u '+%Y-%m-%d %H:%M UTC'):"
  echo "$(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), Linux $(uname -r), $($NODE -v), $(hyperfine --version), $(df -T "$BENCH_DIR" | awk 'NR==2{print $2}') under $BENCH_DIR."
  [ "${NICE:-0}" != 0 ] && echo "hyperfine ran under \`nice -n $NICE\` (every command, the floor too) to keep other users' jobs from dominating the medians."
  echo
  LABELS=$(IFS=$'\t'; echo "${labels[*]}") $NODE bench/latency/table.mjs "${files[@]}"
  echo
  echo "Load average before/after: $LOAD0 / $(cut -d' ' -f1-3 /proc/loadavg) (2 shared cores: compare ratios, not absolute ms)."
} > "$OUT.tmp"
mv "$OUT.tmp" "$OUT"; rm -f "${files[@]}"
cat "$OUT"
if grep -q '<!-- mounts:begin -->' BENCHMARKS.md 2>/dev/null; then
  $NODE -e '
    const fs = require("fs"); const [md, res] = process.argv.slice(1)
    const s = fs.readFileSync(md, "utf8"), t = fs.readFileSync(res, "utf8")
    fs.writeFileSync(md, s.replace(/<!-- mounts:begin -->[\s\S]*<!-- mounts:end -->/, () => `<!-- mounts:begin -->\n${t}<!-- mounts:end -->`))
  ' BENCHMARKS.md "$OUT"
fi
