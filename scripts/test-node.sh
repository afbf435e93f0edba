#!/usr/bin/env bash
# The Node versions test/cli/node-versions.test.ts runs ctrsnap on, besides the machine's own.
#   test-node.sh --majors   prints them
#   test-node.sh MAJOR      prints the path of that Node's binary, installing it first if the
#                           cache lacks it
#   test-node.sh            installs every one (scripts/install-deps.sh, ahead of the tests)
# The binary is the npm registry's node-<platform>-<arch> package (what the `node` package
# fetches from its install script), kept in a cache so only the first run on a machine downloads it.
set -euo pipefail
majors=(22 24)
if [ "${1:-}" = --majors ]; then echo "${majors[*]}"; exit 0; fi
if [ $# -eq 0 ]; then
  for m in "${majors[@]}"; do "$0" "$m" >/dev/null; done
  exit 0
fi
major=$1
cache=${CTRSNAP_NODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ctrsnap/node}
dir=$cache/$major
bin=$dir/node_modules/.bin/node
if ! "$bin" -v 2>/dev/null | grep -q "^v$major\."; then
  mkdir -p "$cache"
  # Into a directory of its own, then moved into place: a concurrent run never sees half an install.
  tmp=$(mktemp -d "$cache/.$major.XXXXXX") && chmod 755 "$tmp"
  trap 'rm -rf "$tmp"' EXIT
  npm install --prefix "$tmp" --no-save --no-package-lock --no-audit --no-fund --loglevel=error \
    "node-$(node -p 'process.platform + "-" + process.arch')@$major" >&2
  rm -rf "$dir"
  mv -T "$tmp" "$dir" 2>/dev/null || true # another run got there first: its copy is as good
fi
echo "$bin"
