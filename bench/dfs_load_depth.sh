#!/usr/bin/env bash
# What bounds one load on MooseFS: kvtier's loads (`kvtier bench`, the
# choice `auto` makes: io_uring + O_DIRECT on FUSE) of COUNT chunks of SIZE,
# stored through mount 0 and read through mount 1 (cold, as on another node),
# with 1..32 threads, beside fio with the same threads and files, at each of
# DELAYS ms per direction. During each run the FUSE connection of mount 1 is
# sampled every 10 ms (/sys/fs/fuse/connections/N/waiting: requests sent to
# the daemon and not yet answered), so the table shows how many requests a
# load keeps in flight against what the daemon serves at once (mfsmount's
# FUSE worker threads, counted from /proc) and the kernel's max_background.
#
#   bash bench/dfs_load_depth.sh [RESULTS_FILE]
#
# Environment: DELAYS ("0.5 2"), THREADS ("1 2 4 8 16 32"), SIZE (10M, the
# DESIGN's chunk), COUNT (48), SEGMENT (the loads' transfer unit, e.g. 512K;
# default: the store's `auto`), KVTIER (build/release/src/cli/kvtier). Needs
# root (tools/dfs.sh check) and fusectl (mounted here if missing).
set -euo pipefail
cd "$(dirname "$0")/.."

DELAYS=${DELAYS:-"0.5 2"}
THREADS=${THREADS:-"1 2 4 8 16 32"}
SIZE=${SIZE:-10M}
COUNT=${COUNT:-48}
KVTIER=${KVTIER:-build/release/src/cli/kvtier}
OUT=${1:-bench/results/dfs-load-depth-$(date -u +%Y%m%d-%H%M).txt}

[[ -x $KVTIER ]] || { echo "build $KVTIER first (or set KVTIER)" >&2; exit 1; }
[[ -e /sys/fs/fuse/connections ]] || { echo "no fusectl" >&2; exit 3; }
# shellcheck source=bench/dfs_lib.sh
source bench/dfs_lib.sh
# shellcheck source=bench/dfs_ceiling.sh
source bench/dfs_ceiling.sh  # fusectl_up, dfs_fuse_conn
dfs_start dfs-depth "$OUT"
fusectl_up  # unmounted at exit (dfs_lib.sh) if mounted here
load() { cut -d' ' -f1-3 /proc/loadavg; }

# sample FILE: every 10 ms, the value of FILE, until killed.
sample() { while :; do cat "$1"; sleep 0.01; done; }
# summary SAMPLES: mean and max of the samples above zero, and how many.
summary() {
  awk '$1 > 0 { n++; s += $1; if ($1 > m) m = $1 }
       END { printf "inflight_mean=%.1f inflight_max=%d busy_samples=%d", n ? s / n : 0, m, n }' "$1"
}

echo "== dfs_load_depth: $(nproc) cores, load $(load), $(date -u +%Y-%m-%dT%H:%MZ)," \
  "commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $COUNT x $SIZE"
for d in $DELAYS; do
  dfs_up "$d" 2
  conn=$(dfs_fuse_conn "${MNT[1]}")
  echo
  echo "=== delay $d ms per direction; mount 1: max_background $(cat "$conn/max_background")"
  mkdir -p "${MNT[0]}/ld"
  for t in $THREADS; do
    sample "$conn/waiting" >"$work/samples" &
    sampler=$!
    threads_before=$(ls "/proc/${MNT_PIDS[1]}/task" | wc -l)
    res=$("$KVTIER" bench --dir "${MNT[0]}/ld" --load-dir "${MNT[1]}/ld" --size "$SIZE" \
      --count "$COUNT" --threads "$t" --repeat 1 --backends auto --modes auto --json \
      ${SEGMENT:+--segment "$SEGMENT"})
    kill "$sampler"
    wait "$sampler" 2>/dev/null || true
    echo "threads=$t $(summary "$work/samples") daemon_threads=$threads_before..$(ls "/proc/${MNT_PIDS[1]}/task" | wc -l) load=$(load)"
    echo "$res" | python3 -c 'import json, sys
r = json.load(sys.stdin)["runs"][0]
print("  kvtier load {:.3f} GB/s ({} {}), fio read {:.3f} GB/s, load/fio {:.2f}".format(
    r["load_GBps"], r["backend_effective"], "direct" if r["load_direct"] else "buffered",
    r["fio_read_GBps"], r["load_vs_fio"]))'
  done
  dfs_down
done
echo "== done $(date -u +%Y-%m-%dT%H:%MZ), load $(load)"
