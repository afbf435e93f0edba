#!/usr/bin/env bash
# The btrfs snapshotter's benchmarks (issue 10), each command against its own
# floor in the same hyperfine run:
#   prepare on a committed parent of 400 MB (4,000 files of 100 KiB; bench/btrfs/parent.mjs):
#     btrfs      vs `btrfs subvolume snapshot` of the parent's subvolume, and on an empty parent
#                (the same time: nothing is copied)
#     native     vs `cp -a` of the parent's tree (a copy: the work native does)
#     overlayfs  vs `node -e 0` (it copies nothing either)
#     native on btrfs vs `cp -a --reflink=auto` there (reflinks: no data copied, every inode is)
#   unpack of the bench image (bench/unpack/gen.mjs: 7 gzip layers, ~147 MiB, ~8,200 files):
#     btrfs and native, each vs `pigz -dc | tar -x` of the same layers into the same file system
# Everything is on a tmpfs, the btrfs on a loop file there, so the disk's noise stays out.
# Needs root, hyperfine, btrfs-progs, pigz. Writes bench/btrfs/results.md and the matching
# section of BENCHMARKS.md; unmounts and detaches everything it made, also when interrupted.
#   bash bench/btrfs/run.sh            (after `npm run build`)
# Env: RUNS=10 UNPACK_RUNS=5 WARMUP=2 REPEATS=2 NICE=0 BENCH_DIR=/tmp/ctrsnap-bench-btrfs
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${RUNS:-10}; UNPACK_RUNS=${UNPACK_RUNS:-5}; WARMUP=${WARMUP:-2}; REPEATS=${REPEATS:-2}; NICE=${NICE:-0}
B=${BENCH_DIR:-/tmp/ctrsnap-bench-btrfs}
OUT=bench/btrfs/results.md
[ "$(id -u)" = 0 ] || { echo "needs root: it mounts a tmpfs and a loop btrfs" >&2; exit 1; }
for c in hyperfine btrfs mkfs.btrfs pigz; do command -v $c >/dev/null || { echo "$c is not installed (scripts/install-deps.sh)" >&2; exit 1; }; done
C="node $PWD/bin/run.js"
T=$B/t BT=$B/bt
mkdir -p "$T" "$BT"

teardown() {
  mountpoint -q "$BT" && { umount "$BT" || umount -l "$BT"; }
  # `mount -o loop` sets autoclear; detach whatever is left of ours.
  losetup -j "$T/btrfs.img" -O NAME -n 2>/dev/null | xargs -r -n1 losetup -d
  mountpoint -q "$T" && { umount "$T" || umount -l "$T"; }
  true
}
trap teardown EXIT
mountpoint -q "$T" || mount -t tmpfs -o size=12g tmpfs "$T"
truncate -s 8G "$T/btrfs.img"
mkfs.btrfs -q -f "$T/btrfs.img" >/dev/null
mount -o loop "$T/btrfs.img" "$BT"
DEV=$(findmnt -no SOURCE "$BT")

[ -f "$B/image.tar" ] || node bench/unpack/gen.mjs "$B/image" >&2

# The parents, each in its own store.
RB=$BT/r RN=$T/native RO=$T/overlay RNB=$BT/native
for r in "$RB:btrfs" "$RN:native" "$RO:overlayfs" "$RNB:native"; do node bench/btrfs/parent.mjs "${r%%:*}" "${r##*:}" >&2; done
PB=$RB/btrfs/snapshots/1 PN=$RN/native/snapshots/1 PNB=$RNB/native/snapshots/1
RE=$BT/empty
$C prepare --root "$RE" --snapshotter btrfs empty-a && $C commit --root "$RE" --snapshotter btrfs empty empty-a

# Before timing: a btrfs child sees the parent's 4,000 files and owns none of its data (exclusive 0).
$C prepare --root "$RB" --snapshotter btrfs check base
child=$RB/btrfs/active/$(ls "$RB/btrfs/active")
[ "$(find "$child" -type f | wc -l)" = 4000 ] || { echo "the btrfs child does not show the parent's 4,000 files" >&2; exit 1; }
excl=$(btrfs filesystem du -s --raw "$child" | awk 'NR==2{print $2}')
[ "$excl" = 0 ] || { echo "the btrfs child has $excl exclusive bytes: its parent was copied" >&2; exit 1; }
$C rm --root "$RB" --snapshotter btrfs check

labels=(); cmds=(); preps=()
add() { labels+=("$1"); preps+=("$2"); cmds+=("$3"); }
q='>/dev/null 2>&1; true'
rmchild() { echo "sh -c '$C rm --root $1 --snapshotter $2 child $q; ${3:-true}'"; }
add 'node -e 0' true 'node -e 0'
add 'btrfs subvolume snapshot' "sh -c 'btrfs -q subvolume delete $BT/floor-snap $q; btrfs subvolume sync $BT >/dev/null'" "btrfs -q subvolume snapshot $PB $BT/floor-snap"
add 'ctrsnap prepare (btrfs)|btrfs subvolume snapshot' "$(rmchild "$RB" btrfs "btrfs subvolume sync $BT >/dev/null")" "$C prepare --root $RB --snapshotter btrfs child base"
add 'ctrsnap prepare (btrfs), on an empty parent|btrfs subvolume snapshot' "$(rmchild "$RE" btrfs "btrfs subvolume sync $BT >/dev/null")" "$C prepare --root $RE --snapshotter btrfs child empty"
add 'cp -a' "sh -c 'rm -rf $T/floor-copy; mkdir $T/floor-copy'" "cp -a $PN/. $T/floor-copy/"
add 'ctrsnap prepare (native)|cp -a' "$(rmchild "$RN" native)" "$C prepare --root $RN --snapshotter native child base"
add 'ctrsnap prepare (overlayfs)|node -e 0' "$(rmchild "$RO" overlayfs)" "$C prepare --root $RO --snapshotter overlayfs child base"
add 'cp -a --reflink=auto, on btrfs' "sh -c 'rm -rf $BT/floor-reflink; mkdir $BT/floor-reflink'" "cp -a --reflink=auto $PNB/. $BT/floor-reflink/"
add 'ctrsnap prepare (native on btrfs)|cp -a --reflink=auto, on btrfs' "$(rmchild "$RNB" native)" "$C prepare --root $RNB --snapshotter native child base"
P_LABELS=("${labels[@]}") P_CMDS=("${cmds[@]}") P_PREPS=("${preps[@]}")

labels=(); cmds=(); preps=()
add 'pigz -dc into tar -x, per layer, on btrfs' "bash bench/btrfs/wipe.sh $BT/floor-unpack" "bash bench/unpack/floor.sh $B/image.layers $BT/floor-unpack"
add 'ctrsnap unpack (btrfs)|pigz -dc into tar -x, per layer, on btrfs' "bash bench/btrfs/wipe.sh $BT/ru" "$C unpack --root $BT/ru --snapshotter btrfs -q $B/image.tar"
add 'pigz -dc into tar -x, per layer, on tmpfs' "rm -rf $T/floor-unpack" "bash bench/unpack/floor.sh $B/image.layers $T/floor-unpack"
add 'ctrsnap unpack (native)|pigz -dc into tar -x, per layer, on tmpfs' "rm -rf $T/ru" "$C unpack --root $T/ru --snapshotter native -q $B/image.tar"
U_LABELS=("${labels[@]}") U_CMDS=("${cmds[@]}") U_PREPS=("${preps[@]}")

LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
bench() { # bench NAME RUNS: hyperfine over the current labels/cmds/preps, REPEATS times; prints the table
  local name=$1 runs=$2 args=() files=() f
  for i in "${!cmds[@]}"; do args+=(--prepare "${preps[$i]}"); done
  for rep in $(seq "$REPEATS"); do
    f=$(mktemp "$B/hf.XXXXXX.json")
    echo "== $name, repeat $rep/$REPEATS (load: $(cut -d' ' -f1-3 /proc/loadavg))" >&2
    nice -n "$NICE" hyperfine -N --style basic --warmup "$WARMUP" --runs "$runs" "${args[@]}" --export-json "$f" "${cmds[@]}" >/dev/null
    files+=("$f")
  done
  LABELS=$(IFS=$'\t'; echo "${labels[*]}") node bench/btrfs/table.mjs "${files[@]}"
  rm -f "${files[@]}"
}
labels=("${P_LABELS[@]}"); cmds=("${P_CMDS[@]}"); preps=("${P_PREPS[@]}")
PREPARE=$(bench 'prepare on a 400 MB parent' "$RUNS")
# Sanity: every prepare left its child, with the parent's files.
for r in "$RB:btrfs" "$RE:btrfs" "$RN:native" "$RO:overlayfs" "$RNB:native"; do
  $C ls --root "${r%%:*}" --snapshotter "${r##*:}" -q | grep -qx child || { echo "no child in ${r%%:*}" >&2; exit 1; }
done
labels=("${U_LABELS[@]}"); cmds=("${U_CMDS[@]}"); preps=("${U_PREPS[@]}")
WARMUP=1
UNPACK=$(bench 'unpack of the bench image' "$UNPACK_RUNS")
for r in "$BT/ru:btrfs" "$T/ru:native"; do
  n=$($C ls --root "${r%%:*}" --snapshotter "${r##*:}" -q | wc -l)
  [ "$n" = 7 ] || { echo "${r##*:} unpack left $n snapshots, not 7" >&2; exit 1; }
done
{
  echo "Produced by \`bash bench/btrfs/run.sh\` (RUNS=$RUNS UNPACK_RUNS=$UNPACK_RUNS REPEATS=$REPEATS) on $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD):"
  echo "$(nproc) CPUs, Linux $(uname -r), $(node -v), $(hyperfine --version), $(btrfs --version). Stores and floors on a tmpfs; the btrfs is a loop file on it ($DEV, 8 GiB)."
  [ "$NICE" != 0 ] && echo "hyperfine ran under \`nice -n $NICE\` (every command, the floors too)."
  echo
  echo "**prepare on a committed parent of 400 MB (4,000 files of 100 KiB: 391 MiB)**; between runs the child is removed (\`ctrsnap rm\`, untimed)."
  echo
  echo "$PREPARE"
  echo
  echo "**unpack of the bench image** (7 gzip layers, ~147 MiB, ~8,200 files) into a fresh root; the floor extracts each layer into its own directory on the same file system."
  echo
  echo "$UNPACK"
  echo
  echo "Load average before/after: $LOAD0 / $(cut -d' ' -f1-3 /proc/loadavg) (2 shared cores: compare ratios, not absolute ms)."
} > "$OUT.tmp"
mv "$OUT.tmp" "$OUT"
cat "$OUT"
if grep -q '<!-- btrfs:begin -->' BENCHMARKS.md; then
  node -e '
    const fs = require("fs"); const [md, res] = process.argv.slice(1)
    const s = fs.readFileSync(md, "utf8"), t = fs.readFileSync(res, "utf8")
    fs.writeFileSync(md, s.replace(/<!-- btrfs:begin -->[\s\S]*<!-- btrfs:end -->/, () => `<!-- btrfs:begin -->\n${t}<!-- btrfs:end -->`))
  ' BENCHMARKS.md "$OUT"
fi
