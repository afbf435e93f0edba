#!/usr/bin/env bash
# A five-minute tour of ctrsnap on a throwaway root: prepare, mount for real with the
# printed mount line, write, commit, a child on top, a read-only view, tree, usage,
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

step "Clean up: remove base and everything built on it"
cs rm -r base
out=$("${ctr[@]}" ls)
check '[ "$out" = "KEY PARENT KIND " ]'
cs ls
