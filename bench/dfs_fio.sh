#!/usr/bin/env bash
# The MooseFS harness (tools/dfs.sh) measured: bring-up and tear-down time,
# the round trip a metadata request pays, and fio sequential write and read
# MB/s with 1 and 16 threads, at each delay per direction.
#
#   bash bench/dfs_fio.sh STATE_DIR            # DELAYS="0 0.5 2" by default
#
# fio writes on mount 0 and reads on mount 1, so the reads come over the
# network, not from the writer's page cache (each mount has its own); the
# chunkservers' own page cache is warm, as on a server with RAM to spare.
# 1 thread: one 512 MiB file; 16 threads: 16 files of 64 MiB; 1 MiB blocks,
# psync, end_fsync. Lookup: median of 200 stat() of missing names, each a
# round trip to the master (mfsmount caches no negative entries).
set -euo pipefail
cd "$(dirname "$0")/.."
state=${1:?usage: bench/dfs_fio.sh STATE_DIR}
py=${PYTHON:-python3}

seconds_since() { awk -v t0="$1" -v t1="$(date +%s.%N)" 'BEGIN { printf "%.1f", t1 - t0 }'; }

fio_mbs() {  # fio_mbs DIR RW THREADS SIZE
  fio --name="$2" --directory="$1" --rw="$2" --bs=1M --size="$4" --numjobs="$3" \
    --ioengine=psync --end_fsync=1 --invalidate=1 --group_reporting \
    --filename_format='fio.$jobnum' --output-format=json |
    "$py" -c "import json,sys; print(round(json.load(sys.stdin)['jobs'][0]['$2']['bw_bytes']/1e6))"
}

lookup_ms() {
  "$py" - "$1" <<'EOF'
import os, statistics, sys, time
t = []
for i in range(200):
    t0 = time.perf_counter()
    os.path.exists(os.path.join(sys.argv[1], f"missing-{i}"))
    t.append(time.perf_counter() - t0)
print(f"{statistics.median(t) * 1000:.2f}")
EOF
}

echo "| delay each way | up s | down s | lookup ms | write 1 thr MB/s | read 1 thr MB/s | write 16 thr MB/s | read 16 thr MB/s |"
echo "|---|---|---|---|---|---|---|---|"
for d in ${DELAYS:-0 0.5 2}; do
  t0=$(date +%s.%N)
  tools/dfs.sh up "$state" --mounts 2 --delay-ms "$d" >/dev/null
  up=$(seconds_since "$t0")
  trap 'tools/dfs.sh down "$state"' EXIT
  # shellcheck disable=SC1091
  . "$state/env"
  read -r m0 m1 <<<"$DFS_MOUNTS"
  row="| $d ms | $up"
  lat=$(lookup_ms "$m1")
  cells=""
  for t in 1 16; do
    size=$((t == 1 ? 512 : 64))M
    cells+=" | $(fio_mbs "$m0" write $t $size) | $(fio_mbs "$m1" read $t $size)"
    rm -f "$m0"/fio.*
  done
  t0=$(date +%s.%N)
  tools/dfs.sh down "$state"
  trap - EXIT
  echo "$row | $(seconds_since "$t0") | $lat$cells |"
done
