#!/usr/bin/env bash
# The store's throughput targets: kvtier vs fio with the same files, sizes,
# threads and mode, for 2, 8 and 32 MiB chunks, on a local-disk directory and
# on /dev/shm; once without checksum verification (target >= 0.90 of fio)
# and once with it (target >= 0.85 of fio for loads). One `kvtier bench` per
# cell prints both tools' GB/s and the ratio of their medians, then the
# median (and range) of the per-pair ratios, each pair run back to back
# (kvtier first in even repetitions, fio first in odd ones), and the median
# per-pair ratios of each order.
#
#   bench/store_vs_fio.sh [DISK_DIR] [SHM_DIR]
#
# Environment: THREADS, TOTAL_MIB, REPEAT; DISK_MODES / SHM_MODES and
# DISK_BACKENDS / SHM_BACKENDS (default: every mode and backend; what `auto`
# picks is direct + io_uring on a disk, buffered + threadpool on /dev/shm).
set -euo pipefail
cd "$(dirname "$0")/.."
CLI=${CLI:-build/release/src/cli/kvtier}
DISK=${1:-/var/tmp/kvtier-fio}
SHM=${2:-/dev/shm/kvtier-fio}
THREADS=${THREADS:-2}
TOTAL_MIB=${TOTAL_MIB:-2048}
for dir in "$DISK" "$SHM"; do
  mkdir -p "$dir"
  modes=${SHM_MODES:-} backends=${SHM_BACKENDS:-}
  if [[ $dir == "$DISK" ]]; then modes=${DISK_MODES:-} backends=${DISK_BACKENDS:-}; fi
  for size in 2 8 32; do
    count=$((TOTAL_MIB / size))
    for verify in --no-verify ""; do
      echo "### dir=$dir size=${size}M count=$count threads=$THREADS ${verify:-verify}"
      "$CLI" bench --dir "$dir" --size "${size}M" --count "$count" --threads "$THREADS" $verify \
        --repeat "${REPEAT:-3}" ${modes:+--modes "$modes"} ${backends:+--backends "$backends"} \
        --json | python3 bench/format_bench.py
    done
  done
  rm -rf "$dir"
done
