#!/usr/bin/env bash
# kvtier vs SGLang's `file` backend on MooseFS (tools/dfs.sh), one cluster
# per delay: stored through mount 0, fetched through mount 1 (another node,
# cold client caches), bench/sglang_vs_file.py's sizes and repeats.
#
#   bash bench/dfs_sglang.sh [RESULTS_FILE]
#
# Environment: DELAYS ("0 0.5 2"), REPEATS (3), ARGS (more options for
# sglang_vs_file.py, e.g. "--layers 2" where SGLang finds too little free
# host memory for the default 4.3 GB pool), PY (the project's venv, with the
# pinned sglang), IO_TIMEOUT_S (600: kvtier's per-job I/O deadline; 20
# concurrent prefetches of 196 pages queue 128-page jobs behind each other,
# which outlasted the 30 s default on the loaded 2-core VM), RESERVE_GB (1:
# the host memory SGLang keeps free beside its pool; its own 10 GiB refuses
# any pool on the 24 GB VM when others use more than 14 GB), DIRECT_IO
# ("auto": kvtier's direct_io option, one kvtier run per word, e.g. "auto
# false", each beside the same `file` run), STORE_DELAY (empty: stores at
# the pass's delay; a number: both backends store at that delay and fetch at
# the pass's, through tools/dfs.sh delay). `free -g` is
# printed before each delay, and sglang_vs_file.py exits early, saying so,
# when pool and reserve do not fit. Each fetch row also gives the CPU seconds
# of the reading mount's FUSE daemon, the chunkservers, the master and the
# benchmark itself. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
DELAYS=${DELAYS:-"0 0.5 2"}
REPEATS=${REPEATS:-3}
ARGS=${ARGS:-}
IO_TIMEOUT_S=${IO_TIMEOUT_S:-600}
RESERVE_GB=${RESERVE_GB:-1}
DIRECT_IO=${DIRECT_IO:-auto}
STORE_DELAY=${STORE_DELAY:-}
PY=${PY:-$HOME/.cache/kvtier/venv/bin/python}
OUT=${1:-bench/results/dfs-sglang-$(date -u +%Y%m%d-%H%M).txt}
# shellcheck source=bench/dfs_lib.sh
source bench/dfs_lib.sh
dfs_start dfs-sglang "$OUT"
echo "== dfs_sglang: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD)"
for d in $DELAYS; do
  hooks=()
  if [[ -n $STORE_DELAY ]]; then
    dfs_up "$d" 2 --relay
    hooks=(--before-store "bash tools/dfs.sh delay $cluster $STORE_DELAY"
      --before-fetch "bash tools/dfs.sh delay $cluster $d")
  else
    dfs_up "$d" 2
  fi
  mkdir -p "${MNT[0]}/sglbench"
  echo "--- delay $d ms per direction, load $(cut -d' ' -f1 /proc/loadavg), io_timeout_s $IO_TIMEOUT_S," \
    "kvtier direct_io $DIRECT_IO${STORE_DELAY:+, stores at $STORE_DELAY ms}"
  free -g
  # shellcheck disable=SC2086  # ARGS: several words
  "$PY" bench/sglang_vs_file.py --dirs "${MNT[0]}/sglbench" --fetch-dirs "${MNT[1]}/sglbench" \
    --repeats "$REPEATS" --io-timeout-s "$IO_TIMEOUT_S" --sglang-reserve-gb "$RESERVE_GB" "${hooks[@]}" \
    --kvtier-direct-io $DIRECT_IO \
    --cpu-pids "mfsmount1=${MNT_PIDS[1]}" "chunkservers=${DFS_CHUNKSERVER_PIDS// /,}" \
    "master=$DFS_MASTER_PID" $ARGS ||
    echo "!! sglang_vs_file failed with status $?"
  echo "--- delay $d done, load $(cut -d' ' -f1-3 /proc/loadavg)"
  dfs_down
done
echo "== done $(date -u +%Y-%m-%dT%H:%MZ)"
