#!/usr/bin/env bash
# Metadata operations per chunk (bench/dfs_metadata.py) on a MooseFS cluster
# from tools/dfs.sh, brought up once per delay (ms per direction):
#
#   bash bench/dfs_metadata.sh [RESULTS_FILE]
#
# Environment: DELAYS ("0 0.5 2"), CHUNKS (79: 20,000 tokens), REPEAT (2),
# KVTIER (build/release/src/cli/kvtier, for `kvtier evict`), PY (the
# project's venv), LOOKUP_DELAY (1; empty skips bench/dfs_lookups.py there),
# LOOKUP_KEYS (20000). Needs root (tools/dfs.sh check says why not).
# Everything brought up is brought down on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

DELAYS=${DELAYS:-"0 0.5 2"}
CHUNKS=${CHUNKS:-79}
REPEAT=${REPEAT:-2}
LOOKUP_DELAY=${LOOKUP_DELAY-1}
LOOKUP_KEYS=${LOOKUP_KEYS:-20000}
KVTIER=${KVTIER:-build/release/src/cli/kvtier}
PY=${PY:-$HOME/.cache/kvtier/venv/bin/python}
OUT=${1:-bench/results/dfs-metadata-$(date -u +%Y%m%d-%H%M).txt}

[[ -x $KVTIER ]] || { echo "build $KVTIER first (or set KVTIER)" >&2; exit 1; }
# shellcheck source=bench/dfs_lib.sh
source bench/dfs_lib.sh
dfs_start dfs-meta "$OUT"
up() { dfs_up "$1" 3; }

echo "== dfs_metadata: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)," \
  "$(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD)"
for d in $DELAYS; do
  echo
  up "$d"
  "$PY" bench/dfs_metadata.py --master "$DFS_MASTER_HOST:$DFS_MASTER_PORT" \
    --mounts "${MNT[@]}" --kvtier-cli "$KVTIER" --chunks "$CHUNKS" --repeat "$REPEAT" \
    --label "delay $d ms per direction" || echo "!! dfs_metadata.py failed at $d ms"
  dfs_down
done
if [[ -n $LOOKUP_DELAY ]]; then
  echo
  echo "== batched contains at $LOOKUP_DELAY ms per direction"
  up "$LOOKUP_DELAY"
  mkdir -p "${MNT[0]}/lk"
  "$PY" bench/dfs_lookups.py "${MNT[0]}/lk" "${MNT[1]}/lk" "${MNT[2]}/lk" --keys "$LOOKUP_KEYS" ||
    echo "!! dfs_lookups.py failed"
  dfs_down
fi
echo "== done $(date -u +%Y-%m-%dT%H:%MZ), load $(cut -d' ' -f1-3 /proc/loadavg)"
