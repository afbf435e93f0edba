#!/usr/bin/env bash
# A short tour of ctrsnap on a throwaway root: prepare, mount for real with the printed
# mount line, write, commit, a child on top, a read-only view, tree, usage, an unpack of an image built on the spot,
# then clean everything up. Prints each command; exits non-zero on the first failure.
# Needs root (it mounts). Runs $CTRSNAP_BIN if set, else `ctrsnap` from PATH, else this
# checkout's bin/run.js; CTRSNAP_SNAPSHOTTER=native tours the native snapshotter.
set -euo pipefail

if [ -n "${CTRSNAP_BIN:-}" ]; then
  ctr=("$CTRSNAP_BIN")
elif command -v ctrsnap >/dev/null 2>&1; then
  ctr=(ctrsnap)
else
  ctr=(node "$(cd "$(dirname "$0")/.." && pwd)/bin/run.js")
fi
if [ "$(id -u)" -ne 0 ]; then echo "tour: needs root: it mounts snapshots" >&2; exit 1; fi

tmp=$(mktemp -d -t ctrsnap-tour.XXXXXX)
export CTRSNAP_ROOT=$tmp/store
mnt=$tmp/mnt
mkdir "$mnt"

finish() {
  status=$?
  # Whatever failed, leave no mount and no directory behind.
  mountpoint -q "$mnt" && umount "$mnt"
  rm -rf "$tmp"
  if [ $status -eq 0 ]; then echo; echo "tour: OK"; else echo "tour: FAILED (exit $status)" >&2; fi
  exit $status
}
trap finish EXIT

step() { printf '\n==> %s\n' "$*"; }
show() { printf '$ %s\n' "$*"; }
# Run ctrsnap, echoing the command line as a user would type it.
cs() { show "ctrsnap $*"; "${ctr[@]}" "$@"; }
# Run a printed `mount ...` line as it is: the point is that it works unedited.
mount_line() { show "$1"; read -r -a words <<<"$1"; "${words[@]}"; }
check() { if ! eval "$1"; then echo "tour: check failed: $1" >&2; exit 1; fi; }

echo "ctrsnap tour: root $CTRSNAP_ROOT (snapshotter ${CTRSNAP_SNAPSHOTTER:-overlayfs})"

step "Prepare an empty active snapshot; --target prints the mount command for $mnt"
show "ctrsnap prepare --target $mnt base-work"
line=$("${ctr[@]}" prepare --target "$mnt" base-work)
echo "$line"

step "Mount it with that line, write a file, unmount"
mount_line "$line"
show "echo hello > $mnt/hello.txt"
echo hello >"$mnt/hello.txt"
show "umount $mnt"
umount "$mnt"

step "Commit it: the active snapshot base-work becomes the committed snapshot base"
cs commit base base-work

step "Prepare a child of base, mount it, add a file on top"
show "ctrsnap prepare --target $mnt app-work base"
line=$("${ctr[@]}" prepare --target "$mnt" app-work base)
echo "$line"
mount_line "$line"
check '[ "$(cat "$mnt/hello.txt")" = hello ]'
show "echo world > $mnt/world.txt"
echo world >"$mnt/world.txt"
show "umount $mnt"
umount "$mnt"
cs commit --label tour=yes app app-work

step "A read-only view of app, mounted: both layers are there, and it refuses writes"
show "ctrsnap view --target $mnt look app"
line=$("${ctr[@]}" view --target "$mnt" look app)
echo "$line"
mount_line "$line"
show "ls $mnt"
ls "$mnt"
check '[ "$(cat "$mnt/hello.txt" "$mnt/world.txt")" = "hello
world" ]'
check '! touch "$mnt/nope" 2>/dev/null'
show "umount $mnt"
umount "$mnt"

step "What is there"
cs ls
cs tree
cs usage
cs label app

step "Unpack an image: build a two-layer OCI image layout on the spot, import it as a chain"
img=$tmp/image
mkdir -p "$img/blobs/sha256" "$tmp/l1/etc" "$tmp/l2/etc"
echo "tour image" >"$tmp/l1/etc/motd"
echo "gone soon" >"$tmp/l1/etc/old"
echo "layer two" >"$tmp/l2/etc/motd"
: >"$tmp/l2/etc/.wh.old"   # an OCI whiteout: layer two deletes /etc/old
blob() { local d; d=$(sha256sum "$1" | cut -d' ' -f1); mv "$1" "$img/blobs/sha256/$d"; echo "$d"; }
size() { stat -c %s "$img/blobs/sha256/$1"; }
diffids=()
layers=()
for l in l1 l2; do
  tar -C "$tmp/$l" --numeric-owner --owner=0 --group=0 -cf "$tmp/$l.tar" etc
  diffids+=("sha256:$(sha256sum "$tmp/$l.tar" | cut -d' ' -f1)")
  gzip -n "$tmp/$l.tar"
  d=$(blob "$tmp/$l.tar.gz")
  layers+=("{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:$d\",\"size\":$(size "$d")}")
done
arch=$(uname -m); case $arch in x86_64) arch=amd64;; aarch64) arch=arm64;; esac
printf '{"architecture":"%s","os":"linux","rootfs":{"type":"layers","diff_ids":["%s","%s"]}}' "$arch" "${diffids[0]}" "${diffids[1]}" >"$tmp/config"
cfg=$(blob "$tmp/config")
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[%s,%s]}' "$cfg" "$(size "$cfg")" "${layers[0]}" "${layers[1]}" >"$tmp/manifest"
man=$(blob "$tmp/manifest")
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"tour"}}]}' "$man" "$(size "$man")" >"$img/index.json"
echo '{"imageLayoutVersion":"1.0.0"}' >"$img/oci-layout"
show "top=\$(ctrsnap unpack $img:tour)"
top=$("${ctr[@]}" unpack "$img:tour" 2>"$tmp/progress")
cat "$tmp/progress"   # progress goes to stderr, the top chainID alone to stdout
echo "$top"
check '[ -n "$top" ]'
cs view --mount --target "$mnt" image-look "$top"
check '[ "$(cat "$mnt/etc/motd")" = "layer two" ]'
check '[ ! -e "$mnt/etc/old" ]'
cs unmount --rm "$mnt"
step "Unpack again: every layer is already there, nothing is extracted"
show "ctrsnap unpack --json $img:tour"
again=$("${ctr[@]}" unpack --quiet --json "$img:tour")
echo "$again"
check '! grep -q "\"status\": \"extracted\"" <<<"$again"'
check '[ "$(grep -c "\"status\": \"reused\"" <<<"$again")" = 2 ]'
step "The chain's root is named by the first layer's diffID (ChainID(L0) = DiffID(L0)); remove the chain"
cs rm -r "${diffids[0]}"

step "Clean up: remove base and everything built on it"
cs rm -r base
out=$("${ctr[@]}" ls)
check '[ "$out" = "KEY PARENT KIND " ]'
cs ls
