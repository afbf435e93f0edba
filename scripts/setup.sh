#!/usr/bin/env bash
# Set up ctrsnap from this checkout on a Debian machine, as root, and prove it works:
# Debian tools, Node packages, build, `ctrsnap` and its man pages on PATH/MANPATH,
# then one run of the tour. Safe to run again: each step redoes only what is needed.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

step() { printf '\n==> %s\n' "$*"; }
die() { echo "setup: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root (it installs packages and the tour mounts snapshots)"

step "Debian tools (scripts/install-deps.sh)"
bash scripts/install-deps.sh

step "Node.js >= 20.19"
node_ok() { command -v node >/dev/null 2>&1 && node -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>20||(a===20&&b>=19)?0:1)'; }
if ! node_ok; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi
node_ok || die "Node.js >= 20.19 is needed; this system has $(node --version 2>/dev/null || echo none). Install it (e.g. from https://nodejs.org or NodeSource) and run again."
command -v npm >/dev/null 2>&1 || die "npm is missing: install it (apt-get install npm) and run again"
echo "node $(node --version), npm $(npm --version)"

step "Node packages (npm ci)"
# npm ci wipes node_modules first: skip it when every package the lock file names is
# installed at its locked version (npm's record of what it installed says so) and nothing else is.
installed_matches_lock() {
  [ -f node_modules/.package-lock.json ] || return 1
  node -e '
    const fs = require("fs")
    const lock = JSON.parse(fs.readFileSync("package-lock.json", "utf8")).packages
    const have = JSON.parse(fs.readFileSync("node_modules/.package-lock.json", "utf8")).packages
    const off = Object.entries(lock).filter(([p, m]) => p !== "" && (have[p] ? have[p].version !== m.version : !m.optional))
    const extra = Object.keys(have).filter(p => !lock[p])
    process.exit(off.length + extra.length === 0 ? 0 : 1)'
}
if installed_matches_lock; then
  echo "node_modules matches package-lock.json: nothing to do"
else
  npm ci --no-audit --no-fund
fi

step "Build (npm run build)"
npm run build

step "ctrsnap on PATH, man pages on MANPATH"
ln -sfn "$repo/bin/run.js" /usr/local/bin/ctrsnap
mkdir -p /usr/local/share/man/man1
for page in "$repo"/man/*.1; do ln -sfn "$page" "/usr/local/share/man/man1/$(basename "$page")"; done
# Links to pages of commands that no longer exist.
for link in /usr/local/share/man/man1/ctrsnap*.1; do [ -e "$link" ] || rm -f "$link"; done
echo "/usr/local/bin/ctrsnap -> $repo/bin/run.js"
ctrsnap --version

step "Tour (scripts/tour.sh)"
bash scripts/tour.sh

printf '\nsetup: done. Next: npm test; man ctrsnap; ctrsnap --help\n'
