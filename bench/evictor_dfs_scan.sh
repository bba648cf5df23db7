#!/usr/bin/env bash
# The evictor's full scan vs `find ROOT -printf '%A@ %s %p\n'` on the MooseFS
# harness (tools/dfs.sh), where every listing and stat is a round trip to the
# master: N chunk files of SIZE bytes in kvtier layout are written through
# mount 0 (MAKE_THREADS writers), then mount 2 (another node) is scanned by
# find and by the evictor with each of SCAN_THREADS, alternating, ROUNDS times.
# Then the deletion rate: `kvtier evict --once` (CLI=...; rate limit off) with
# a quota that puts usage at 0.92 and the low mark at 0.85, so it deletes
# about 7.6% of the files, oldest first (a whole tree of 200,000 at ~100
# deletions/s would take over half an hour).
#
#   bench/evictor_dfs_scan.sh [N] [DELAY_MS] [SIZE]
#   BIN=build/release/src/evictor/kvtier-evictor-bench ROUNDS=2 SCAN_THREADS="1 16 32" \
#     bench/evictor_dfs_scan.sh 20000 0.5 4096
#   SCAN_THREADS="16 32" bench/evictor_dfs_scan.sh 200000 0.5 4096
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
CLI=${CLI:-build/release/src/cli/kvtier}
[[ -x "$BIN" ]] || { echo "build kvtier-evictor-bench first (or set BIN)"; exit 1; }
[[ -x "$CLI" ]] || { echo "build the kvtier CLI first (or set CLI)"; exit 1; }
here=$(cd "$(dirname "$0")/.." && pwd)
state=$(mktemp -d /tmp/kvtier-evictor-dfs.XXXXXX)
trap '"$here/tools/dfs.sh" down "$state" >/dev/null 2>&1 || true; rm -rf "$state"' EXIT

load() { cut -d' ' -f1-3 /proc/loadavg; }
# The temporary directory is named STATE in what is printed.
exec > >(sed -u "s|$state|STATE|g") 2>&1
echo "== machine: $(nproc) cores, $(uname -r), $(date -u +%Y-%m-%dT%H:%MZ); N=$N size=$SIZE delay=${DELAY}ms; load $(load)"
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
  echo "round=$round find seconds=$(echo "$(date +%s.%N) - $t0" | bc) lines=$lines load=$(load)"
  for t in $SCAN_THREADS; do
    sleep 2
    echo "round=$round scan threads=$t $("$BIN" scan "$scan" 1 "$t" | grep '^scan run') load=$(load)"
  done
done

# Deletion: every file is the same size, so the bytes the evictor counts are
# N times one file's allocation.
one=$(find "$scan" -name '*.kv' -print -quit)
alloc=$(( $(stat -c %b "$one") * 512 * N ))
quota=$(echo "$alloc / 0.92" | bc)
echo "delete: allocated=$alloc quota=$quota (usage 0.92, low mark 0.85) load=$(load)"
# The log's "high watermark reached" comes right after the scan, its
# "eviction round" once the round's deletions are done.
"$CLI" evict "$scan" --once --quota-bytes "$quota" --high 0.9 --low 0.85 --min-age 0 \
  --max-delete-rate 0 --dir-grace 1000h --journal-keep 0 --port 0 --log-level info 2>&1 |
  tee "$state/evict.log" | grep -E 'high watermark|eviction round' || true
python3 - "$state/evict.log" <<'EOF2'
import datetime, json, sys
ev = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
ts = {e["msg"]: datetime.datetime.fromisoformat(e["ts"].replace("Z", "+00:00")) for e in ev}
rnd = next(e for e in ev if e["msg"] == "eviction round")
dt = (ts["eviction round"] - ts["high watermark reached"]).total_seconds()
print(f"delete: files={rnd['files']} seconds={dt:.1f} deletes_per_s={rnd['files'] / dt:.0f}")
EOF2
echo "load $(load)"
