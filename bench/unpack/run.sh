#!/usr/bin/env bash
# Unpack benchmark: ctrsnap unpack vs the floor (`pigz -dc | tar -x` of the same
# layers, one after another), vs the least a Node-in-the-data-path design does
# (pump.mjs), vs containerd 1.6 (`ctr images import`, which
# ingests and unpacks), on the image gen.mjs makes (7 gzip layers, ~147 MiB,
# ~8,200 files). Everything writes to tmpfs so the disk's noise stays out.
# Needs root, hyperfine, pigz, containerd/ctr. Usage: bench/unpack/run.sh [RUNS]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
runs=${1:-5}
B=${BENCH_DIR:-/tmp/ctrsnap-bench-h6}
export REF_DIR=${REF_DIR:-/tmp/ref-h6}
ref=/work/shared/tools/ref-containerd
mkdir -p "$B/mnt" "$REF_DIR"
[ -f "$B/image.tar" ] || node "$here/gen.mjs" "$B/image"
mountpoint -q "$B/mnt" || mount -t tmpfs -o size=6g tmpfs "$B/mnt"
# containerd's root and state on tmpfs too (stop it first: it must not run over the mount).
$ref stop >/dev/null 2>&1 || true
mountpoint -q "$REF_DIR" || mount -t tmpfs -o size=6g tmpfs "$REF_DIR"
$ref start >/dev/null
trap '$ref stop >/dev/null 2>&1 || true' EXIT
(cd "$repo" && npm run build >/dev/null 2>&1 || true)

ctr_rm="$ref ctr -n bench images rm --sync docker.io/library/ctrsnap-bench:latest >/dev/null 2>&1 || true"
out="$here/results"
mkdir -p "$out"
hyperfine --runs "$runs" --warmup 1 --export-json "$out/unpack.json" --export-markdown "$out/unpack.md" \
  -n 'floor: pigz -dc | tar -x, layer by layer' --prepare "rm -rf $B/mnt/floor" \
    "$here/floor.sh $B/image.layers $B/mnt/floor" \
  -n 'pump: pigz -dc | Node (sha256 x2) | tar -x, layer by layer' --prepare "rm -rf $B/mnt/pump" \
    "node $here/pump.mjs $B/image.layers $B/mnt/pump" \
  -n 'ctrsnap unpack (overlayfs)' --prepare "rm -rf $B/mnt/root" \
    "node $repo/bin/run.js unpack --root $B/mnt/root --snapshotter overlayfs -q $B/image.tar" \
  -n 'ctrsnap unpack --jobs 1 (overlayfs)' --prepare "rm -rf $B/mnt/root" \
    "node $repo/bin/run.js unpack --root $B/mnt/root --snapshotter overlayfs -q --jobs 1 $B/image.tar" \
  -n 'ctrsnap unpack of the OCI layout directory (overlayfs)' --prepare "rm -rf $B/mnt/root" \
    "node $repo/bin/run.js unpack --root $B/mnt/root --snapshotter overlayfs -q $B/image" \
  -n 'ctrsnap unpack (native)' --prepare "rm -rf $B/mnt/root" \
    "node $repo/bin/run.js unpack --root $B/mnt/root --snapshotter native -q $B/image.tar" \
  -n 'containerd 1.6: ctr images import (overlayfs)' --prepare "$ctr_rm" \
    "$ref ctr -n bench images import --snapshotter overlayfs $B/image.tar" \
  -n 'ctrsnap unpack again (all layers reused)' --prepare true \
    "node $repo/bin/run.js unpack --root $B/mnt/root --snapshotter native -q $B/image.tar"
# Sanity: each tool really unpacked all 7 layers.
echo "containerd snapshots: $($ref ctr -n bench snapshots --snapshotter overlayfs ls | tail -n +2 | wc -l)"
echo "ctrsnap snapshots: $(node "$repo/bin/run.js" ls --root "$B/mnt/root" --snapshotter native | tail -n +2 | wc -l)"
eval "$ctr_rm"
