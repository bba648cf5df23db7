#!/usr/bin/env bash
# How long after an unlink MooseFS shows the space as free, two ways:
# statvfs on a mount with --capacity (a quota on the mounted directory), and
# the chunkservers' own space (what a capacity made of small disks would
# show): the master keeps an unlinked file "sustained" while any client
# session still reports its inode, then deletes its chunks on a chunk-loop
# pass. Takes about 14 minutes.
#
#   bash bench/dfs_unlink_lag.sh STATE_DIR
set -euo pipefail
cd "$(dirname "$0")/.."
state=${1:?usage: bench/dfs_unlink_lag.sh STATE_DIR}
tools/dfs.sh up "$state" --capacity 1G >/dev/null
trap 'tools/dfs.sh down "$state"' EXIT
# shellcheck disable=SC1091
. "$state/env"
read -r m0 m1 m2 <<<"$DFS_MOUNTS"

used() { stat -f -c '%S %b %a' "$1" | awk '{ printf "%d", ($2 - $3) * $1 }'; }
master() {  # sustained files and chunks, from the master
  mfscli -H "$DFS_MASTER_HOST" -P "$DFS_MASTER_PORT" -SIN 2>/dev/null |
    awk -F'\t' '/sustained files/ { s = $3 } /master info:\tchunks/ { c = $3 }
                END { printf "sustained files %s, chunks %s", s, c }'
}

dd if=/dev/zero of="$m0/f" bs=1M count=200 conv=fsync status=none
sleep 2
echo "written 200 MiB on mount 0: statvfs used on mount 2 $(used "$m2"); $(master)"
t0=$(date +%s.%N)
rm "$m1/f"
until (($(used "$m2") < 1 << 20)); do sleep 0.01; done
echo "statvfs on mount 2 after the unlink on mount 1: free after $(awk -v t0="$t0" \
  -v t1="$(date +%s.%N)" 'BEGIN { printf "%.3f", t1 - t0 }') s"
prev=""
while :; do
  now=$(master)
  t=$(awk -v t0="$t0" -v t1="$(date +%s.%N)" 'BEGIN { printf "%d", t1 - t0 }')
  [[ $now == "$prev" ]] || echo "t=${t} s: $now"
  prev=$now
  [[ $now != *"sustained files 0, chunks 0" ]] || break
  ((t < 1800)) || { echo "still not freed after 1800 s"; exit 1; }
  sleep 1
done
