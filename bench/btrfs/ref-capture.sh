#!/usr/bin/env bash
# Capture what containerd 1.6's btrfs snapshotter prints and leaves on disk, for bench/btrfs/REFERENCE.md.
# Everything lives under one mktemp dir: a 1 GiB loop-backed btrfs, a private containerd whose root is on it.
# The daemon is stopped and the loop device detached on exit, also on failure.   Run as root.
set -u
D=$(mktemp -d /tmp/ref-btrfs-XXXXXX)
IMG=$D/disk.img MNT=$D/mnt SOCK=$D/containerd.sock
PID= DEV=
finish() {
  [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
  for t in "$D"/t*; do mountpoint -q "$t" 2>/dev/null && umount "$t"; done
  mountpoint -q "$MNT" && umount "$MNT"
  [ -n "$DEV" ] && losetup -d "$DEV" 2>/dev/null
  rm -rf "$D"
}
trap finish EXIT INT TERM
show() { echo "\$ $*"; "$@" 2>&1; echo "[exit $?]"; }
truncate -s 1G "$IMG"
mkfs.btrfs -q "$IMG"
mkdir -p "$MNT"
mount -o loop "$IMG" "$MNT"
DEV=$(findmnt -n -o SOURCE "$MNT")
echo "# loop device: $DEV (shown below as-is)"
cat > "$D/config.toml" <<CFG
version = 2
root = "$MNT/root"
state = "$D/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$SOCK"
[plugins."io.containerd.internal.v1.opt"]
  path = "$D/opt"
CFG
containerd --config "$D/config.toml" > "$D/log" 2>&1 < /dev/null & PID=$!
for _ in $(seq 100); do ctr -a "$SOCK" version >/dev/null 2>&1 && break; sleep 0.1; done
C() { show ctr -a "$SOCK" -n ref snapshots --snapshotter btrfs "$@"; }
R=$MNT/root/io.containerd.snapshotter.v1.btrfs
C prepare base
C mounts "$D/t0" base
M() { mkdir -p "$2"; eval "$(ctr -a "$SOCK" -n ref snapshots --snapshotter btrfs mounts "$2" "$1")"; }
M base "$D/t0"
head -c 1000000 /dev/urandom > "$D/t0/big"; mkdir "$D/t0/dir"; echo hi > "$D/t0/dir/small"; umount "$D/t0"
C usage base
C commit base-c base
C usage base-c
C info base-c
C prepare child base-c
C view v1 base-c
C mounts "$D/t1" v1
mkdir -p "$D/t2"; C prepare --target "$D/t2" child2 base-c
C prepare --mounts child3 base-c
M child "$D/t3"
echo new > "$D/t3/added"; head -c 8192 /dev/urandom > "$D/t3/dir/small"; umount "$D/t3"
C usage child
C usage v1
C ls
C tree
C info child
C info v1
C usage
echo "--- on disk"
show ls -la "$R" "$R/active" "$R/view" "$R/snapshots"
show btrfs subvolume list "$MNT"
for s in "$R"/active/* "$R"/view/* "$R"/snapshots/*; do echo "$s: $(btrfs property get -ts "$s" ro) id=$(btrfs inspect-internal rootid "$s")"; done
C rm base-c
C commit child-c child
show btrfs subvolume list "$MNT"
C rm v1
C rm child2
show btrfs subvolume list "$MNT"
echo "(containerd's metadata layer removes the backend snapshot at its next GC; waiting 3s)"; sleep 3
show btrfs subvolume list "$MNT"
show ls -la "$R/active" "$R/view" "$R/snapshots"
C usage child-c
C prepare again base-c
C rm nosuch
C ls
C prepare --mounts deep1 child-c
C commit deep1-c deep1
C view deep-view deep1-c
C tree
C usage deep1-c
C view v0
C mounts "$D/t4" v0
for s in "$R"/view/*; do echo "$s: $(btrfs property get -ts "$s" ro) id=$(btrfs inspect-internal rootid "$s")"; done
echo "--- log excerpt"
grep -i 'plugin.*btrfs' "$D/log" | head -5
echo "--- a containerd whose root is not on btrfs ($(stat -f -c %T "$D"))"
kill "$PID"; wait "$PID" 2>/dev/null
sed -i "s|^root = .*|root = \"$D/root2\"|" "$D/config.toml"
containerd --config "$D/config.toml" > "$D/log2" 2>&1 < /dev/null & PID=$!
for _ in $(seq 100); do ctr -a "$SOCK" version >/dev/null 2>&1 && break; sleep 0.1; done
grep 'plugin.*btrfs' "$D/log2"
C prepare x
C ls
