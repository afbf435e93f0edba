#!/usr/bin/env bash
# The Debian tools ctrsnap shells out to or tests against, and the Node versions the tests run
# it on; installs only what is missing.
set -euo pipefail
need=()
for pair in mount:mount cp:coreutils tar:tar pigz:pigz zstd:zstd gzip:gzip mandoc:mandoc getfattr:attr containerd:containerd ctr:containerd dot:graphviz zsh:zsh script:bsdutils btrfs:btrfs-progs; do
  cmd=${pair%%:*} pkg=${pair#*:}
  command -v "$cmd" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then echo "install as root: apt-get install -y ${need[*]}" >&2; exit 1; fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(printf '%s\n' "${need[@]}" | sort -u) >/dev/null
fi
# The other Node versions the tests run ctrsnap on, into a cache (the test fetches any that is
# missing itself). Needs npm: scripts/setup.sh installs Node after this script, so may skip it.
if command -v npm >/dev/null 2>&1; then bash "$(dirname "$0")/test-node.sh"; fi
