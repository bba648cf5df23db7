#!/usr/bin/env bash
# Evictor benchmark: scan rate vs `find -printf '%A@ %s %p\n'` on the same
# 1,000,000-file kvtier tree, deletion rate, and index memory per file.
#
#   bench/evictor_bench.sh [N] [DIR]
#   BIN=build/src/evictor/kvtier-evictor-bench bench/evictor_bench.sh 1000000 /dev/shm/evb
#
# The tree (empty chunk files in kvtier layout, distinct atimes) is created
# under DIR (default /dev/shm: a local tmpfs, so the numbers are CPU and
# syscall cost, not disk) and removed at the end. Each timing is the best of
# RUNS runs with a warm dentry/inode cache for both tools.
set -euo pipefail
N=${1:-1000000}
DIR=${2:-/dev/shm/kvtier-evictor-bench}
RUNS=${RUNS:-3}
BIN=${BIN:-}
if [[ -z "$BIN" ]]; then
  for b in build/release/src/evictor/kvtier-evictor-bench build/src/evictor/kvtier-evictor-bench \
           build/full/src/evictor/kvtier-evictor-bench; do
    [[ -x "$b" ]] && BIN=$b && break
  done
fi
[[ -x "$BIN" ]] || { echo "build kvtier-evictor-bench first (or set BIN)"; exit 1; }
trap 'rm -rf "$DIR"' EXIT
rm -rf "$DIR"

echo "== machine: $(nproc) cores, $(uname -r), $(date -u +%Y-%m-%dT%H:%MZ)"
t0=$(date +%s.%N)
"$BIN" make-tree "$DIR" "$N"
echo "tree_create_seconds=$(echo "$(date +%s.%N) - $t0" | bc)"

find "$DIR" -printf '%A@ %s %p\n' > /dev/null  # warm the caches
best_find=999999
for _ in $(seq "$RUNS"); do
  t0=$(date +%s.%N)
  find "$DIR" -printf '%A@ %s %p\n' > /dev/null
  t=$(echo "$(date +%s.%N) - $t0" | bc)
  echo "find run seconds=$t"
  best_find=$(echo "if ($t < $best_find) $t else $best_find" | bc)
done
echo "find_best_seconds=$best_find"

out=$("$BIN" scan "$DIR" "$RUNS")
echo "$out"
best_scan=$(echo "$out" | sed -n 's/^scan_best_seconds=//p')
echo "scan_rate_ratio_vs_find=$(echo "scale=2; $best_find / $best_scan" | bc)  (>= 1.0 means the evictor scans at least as fast as find)"

"$BIN" delete "$DIR"
