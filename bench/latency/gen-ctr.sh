#!/usr/bin/env bash
# Fill a containerd namespace with N snapshots shaped as gen-root.mjs shapes a
# ctrsnap root (chains of 20 committed layers with chain-id names, then actives
# and views on chain heads, plus bench-base/bench-active/bench-view), through
# `ctr snapshots` (the only way in without writing Go). Chains run 4 at a time.
# Usage: REF_DIR=... bench/latency/gen-ctr.sh NAMESPACE [N]
set -eu
NS=$1; N=${2:-10000}
REF=${REF:-/work/shared/tools/ref-containerd}
ctr() { "$REF" ctr -n "$NS" snapshots "$@"; }
export -f ctr; export NS REF
ctr prepare bench-base-tmp >/dev/null && ctr commit bench-base bench-base-tmp
ctr prepare bench-active bench-base >/dev/null
ctr view bench-view bench-base >/dev/null
COMMITTED=$(( (N - 3) * 8 / 10 ))
CHAINS=$(( (COMMITTED + 19) / 20 ))
chain() { # chain INDEX: 20 committed layers, the head's name printed
  local parent="" name
  for l in $(seq 0 19); do
    [ $(( $1 * 20 + l )) -lt "$COMMITTED" ] || break
    name=sha256:$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
    ctr prepare "extract-$1-$l" $parent >/dev/null
    ctr commit "$name" "extract-$1-$l"
    parent=$name
  done
  echo "$parent"
}
export -f chain; export COMMITTED
seq 0 $((CHAINS - 1)) | xargs -r -P 4 -I{} bash -c 'chain {}' > "/tmp/gen-ctr-$NS.heads"
mapfile -t HEADS < "/tmp/gen-ctr-$NS.heads"
REST=$(( N - 3 - COMMITTED ))
for i in $(seq 0 $((REST - 1))); do
  p=${HEADS[$(( i % ${#HEADS[@]} ))]}
  if [ $(( i % 4 )) -eq 3 ]; then echo "view view-$i $p"; else echo "prepare container-$i $p"; fi
done | xargs -r -P 4 -L 1 bash -c 'ctr $0 $1 $2 >/dev/null'
rm -f "/tmp/gen-ctr-$NS.heads"
echo "$NS: $(ctr ls | tail -n +2 | wc -l) snapshots"
