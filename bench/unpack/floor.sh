#!/usr/bin/env bash
# The floor: each layer of the image decompressed and extracted by `pigz -dc | tar -x`
# into its own fresh directory, one after another (no hashing, no metadata, no whiteouts).
# Usage: floor.sh LAYERS_FILE DEST
set -eu
layers=$1 dest=$2
mkdir -p "$dest"
i=0
while read -r blob; do
  i=$((i + 1)); mkdir "$dest/$i"
  pigz -dc "$blob" | tar -x --numeric-owner -C "$dest/$i"
done < "$layers"
