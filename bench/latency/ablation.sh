#!/usr/bin/env bash
# What each start-up choice is worth, in one hyperfine run on the small root:
# the shipped set-up (bundle + manifest) against dist/ unbundled
# (CTRSNAP_NO_BUNDLE=1) and against a copy of the package without
# oclif.manifest.json; plus the floors: node, sql.js alone, and oclif's own
# `--version`. Writes bench/latency/ablation.md.   bash bench/latency/ablation.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${RUNS:-15}; WARMUP=${WARMUP:-3}; REPEATS=${REPEATS:-2}; NODE=${NODE:-node}
BENCH_DIR=${BENCH_DIR:-/tmp/ctrsnap-bench}; ROOT=$BENCH_DIR/small
[ -d "$ROOT" ] || $NODE bench/latency/gen-root.mjs "$ROOT" 3
# The package without its manifest: same code, node_modules and dist/ (links).
NOMF=$BENCH_DIR/no-manifest; rm -rf "$NOMF"; mkdir -p "$NOMF/bin"
cp bin/run.js "$NOMF/bin/"; cp package.json "$NOMF/"; ln -s "$PWD/node_modules" "$PWD/dist" "$NOMF/"
labels=(); cmds=()
add() { labels+=("$1"); cmds+=("$2"); }
add 'floor|node -e 0' "$NODE -e 0"
add 'other|sql.js alone: import, init, one statement (no oclif)' "$NODE bench/latency/sqljs-floor.mjs"
add 'ctrsnap|--version (bundle + manifest, shipped)' "$NODE bin/run.js --version"
add 'ctrsnap|--version (dist/ unbundled + manifest)' "env CTRSNAP_NO_BUNDLE=1 $NODE bin/run.js --version"
add 'ctrsnap|ls (bundle + manifest, shipped)' "$NODE bin/run.js ls --root $ROOT"
add 'ctrsnap|ls (dist/ unbundled + manifest)' "env CTRSNAP_NO_BUNDLE=1 $NODE bin/run.js ls --root $ROOT"
add 'ctrsnap|ls (bundle, no manifest)' "$NODE $NOMF/bin/run.js ls --root $ROOT"
add 'ctrsnap|ls (dist/ unbundled, no manifest)' "env CTRSNAP_NO_BUNDLE=1 $NODE $NOMF/bin/run.js ls --root $ROOT"
files=()
for rep in $(seq "$REPEATS"); do
  f=$(mktemp "$BENCH_DIR/hf.XXXXXX.json"); files+=("$f")
  nice -n "${NICE:-0}" hyperfine -N --style basic --warmup "$WARMUP" --runs "$RUNS" --export-json "$f" "${cmds[@]}" >/dev/null
done
{
  echo "Produced by \`bash bench/latency/ablation.sh\` (RUNS=$RUNS REPEATS=$REPEATS$([ "${NICE:-0}" != 0 ] && echo ", under nice -n $NICE")) on $(date -u '+%Y-%m-%d %H:%M UTC'), $($NODE -v), load $(cut -d' ' -f1-3 /proc/loadavg):"
  echo
  LABELS=$(IFS=$'\t'; echo "${labels[*]}") $NODE bench/latency/table.mjs "${files[@]}"
} > bench/latency/ablation.md
rm -f "${files[@]}"; rm -rf "$NOMF"
cat bench/latency/ablation.md
