#!/usr/bin/env bash
# Remove DIR on a btrfs: its subvolumes (deepest first) with `btrfs subvolume
# delete` (rm -rf cannot remove read-only ones), then the rest; then wait for
# btrfs to free their space, so the next timed run does not share the disk with
# the cleaner. Usage: wipe.sh DIR
set -eu
dir=$1
[ -e "$dir" ] || exit 0
find "$dir" -mindepth 1 -type d -inum 256 | sort -r | xargs -r btrfs -q subvolume delete
if [ "$(stat -c %i "$dir")" = 256 ]; then btrfs -q subvolume delete "$dir"; else rm -rf "$dir"; fi
btrfs subvolume sync "$(dirname "$dir")" >/dev/null
