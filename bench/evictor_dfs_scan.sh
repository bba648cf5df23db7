#!/usr/bin/env bash
# The evictor's full scan vs `find ROOT -printf '%A@ %s %p\n'` on the MooseFS
# harness (tools/dfs.sh), where every listing and stat is a round trip to the
# master: N chunk files of SIZE bytes in kvtier layout are written through
# mount 0 (MAKE_THREADS writers), then mount 2 (another node) is scanned by
# find and by the evictor with each of SCAN_THREADS, alternating, ROUNDS times.
#
#   bench/evictor_dfs_scan.sh [N] [DELAY_MS] [SIZE]
#   BIN=build/release/src/evictor/kvtier-evictor-bench ROUNDS=2 SCAN_THREADS="1 16 32" \
#     bench/evictor_dfs_scan.sh 20000 0.5 4096
#
# Each run starts cold: a new evictor (empty index), and runs are more than
# the mount's 1 s attribute and directory cache apart. Needs root (see
# tools/dfs.sh check); the cluster is torn down on any exit.
set -euo pipefail
N=${1:-20000}
DELAY=${2:-0.5}
SIZE=${3:-4096}
ROUNDS=${ROUNDS:-2}
SCAN_THREADS=${SCAN_THREADS:-"1 16 32"}
MAKE_THREADS=${MAKE_THREADS:-32}
BIN=${BIN:-build/release/src/evictor/kvtier-evictor-bench}
[[ -x "$BIN" ]] || { echo "build kvtier-evictor-bench first (or set BIN)"; exit 1; }
here=$(cd "$(dirname "$0")/.." && pwd)
state=$(mktemp -d /tmp/kvtier-evictor-dfs.XXXXXX)
trap '"$here/tools/dfs.sh" down "$state" >/dev/null 2>&1 || true; rm -rf "$state"' EXIT

echo "== machine: $(nproc) cores, $(uname -r), $(date -u +%Y-%m-%dT%H:%MZ); N=$N size=$SIZE delay=${DELAY}ms"
"$here/tools/dfs.sh" up "$state" --delay-ms "$DELAY" >/dev/null
tree=$state/mnt/0/evb
scan=$state/mnt/2/evb
t0=$(date +%s.%N)
"$BIN" make-tree "$tree" "$N" "$SIZE" "$MAKE_THREADS"
echo "tree_create_seconds=$(echo "$(date +%s.%N) - $t0" | bc)"

for round in $(seq "$ROUNDS"); do
  sleep 2
  t0=$(date +%s.%N)
  lines=$(find "$scan" -printf '%A@ %s %p\n' | wc -l)
  echo "round=$round find seconds=$(echo "$(date +%s.%N) - $t0" | bc) lines=$lines"
  for t in $SCAN_THREADS; do
    sleep 2
    "$BIN" scan "$scan" 1 "$t" | grep '^scan run'
  done
done
