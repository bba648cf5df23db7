#!/usr/bin/env bash
# The benchmarks on a distributed filesystem: a MooseFS cluster from
# tools/dfs.sh (three FUSE mounts of one filesystem, each standing for a
# node), brought up once per delay, everything side by side in one run:
#
#   at each of DELAYS (ms per direction, default "0 0.5 2"):
#     auto       what `auto` picks on the mount (loads: backend, O_DIRECT; stores: O_DIRECT)
#     store      `kvtier bench` (every backend x mode) vs fio, same threads
#     tier       kvtier's vLLM tier vs vLLM's built-in `fs` tier: the prefix
#                stored through mount 0, load-1 through mount 1, load-20
#                through mount 2 (cold page caches, as on other nodes);
#                TIER_VARIANTS ("NAME:KEY=VALUE,..." words): kvtier once per
#                variant beside one built-in run
#     ceiling    fio's cold reads through the mounts with many jobs, O_DIRECT
#                and buffered (bench/dfs_ceiling.sh; not in the default PARTS)
#   at LOOKUP_DELAY (1):   batched `contains`, cold / warm / verdict cache;
#                          auto and store again (the delay of the io_uring finding)
#   at EVICT_DELAY (0.5):  evictor scan vs `find -printf`, cold and warm,
#                          and its deletion rate, on EVICT_N chunk files
#
#   bash bench/dfs_bench.sh [RESULTS_FILE]
#
# Sizes (environment): PREFIX_TOKENS (50000), TIER_THREADS (16), TIER_REPEAT (1),
# STORE_SIZE (8M), STORE_COUNT (64), STORE_THREADS (4), STORE_REPEAT (3),
# LOOKUP_KEYS (20000), EVICT_N (10000), TIER_OPTS (kvtier tier options as
# KEY=JSON words, e.g. "io_timeout_s=300": on a machine so loaded that
# storing the 2 GB prefix in one job outlasts the default 30 s deadline, the
# job fails and so does the run); PARTS ("store tier evict lookup")
# picks the parts to run. Binaries: KVTIER, EVICTOR_BENCH
# (default build/release), PY (the project's venv). Needs root (tools/dfs.sh
# check says why not). Everything brought up is brought down on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

DELAYS=${DELAYS:-"0 0.5 2"}
PARTS=${PARTS:-"store tier evict lookup"}
LOOKUP_DELAY=${LOOKUP_DELAY-1}  # empty: skip the lookup part
EVICT_DELAY=${EVICT_DELAY:-0.5}
PREFIX_TOKENS=${PREFIX_TOKENS:-50000}
TIER_THREADS=${TIER_THREADS:-16}
TIER_REPEAT=${TIER_REPEAT:-1}  # runs per tier, alternating (medians)
TIER_OPTS=${TIER_OPTS:-}
TIER_VARIANTS=${TIER_VARIANTS:-}
STORE_SIZE=${STORE_SIZE:-8M}
STORE_COUNT=${STORE_COUNT:-64}
STORE_THREADS=${STORE_THREADS:-4}
STORE_REPEAT=${STORE_REPEAT:-3}
LOOKUP_KEYS=${LOOKUP_KEYS:-20000}
EVICT_N=${EVICT_N:-10000}
KVTIER=${KVTIER:-build/release/src/cli/kvtier}
EVICTOR_BENCH=${EVICTOR_BENCH:-build/release/src/evictor/kvtier-evictor-bench}
PY=${PY:-$HOME/.cache/kvtier/venv/bin/python}
OUT=${1:-bench/results/dfs-bench-$(date -u +%Y%m%d-%H%M).txt}

for b in "$KVTIER" "$EVICTOR_BENCH"; do
  [[ -x $b ]] || { echo "build $b first (or set KVTIER / EVICTOR_BENCH)" >&2; exit 1; }
done
# shellcheck source=bench/dfs_lib.sh
source bench/dfs_lib.sh
tmpl=""
DFS_ON_EXIT='[[ -z $tmpl ]] || rm -rf "$tmpl"'
dfs_start dfs-bench "$OUT"
tmpl=$(mktemp -d /dev/shm/kvtier-dfs-tree.XXXXXX)
up() { dfs_up "$1" 3; }
down() { dfs_down; }

secs() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(secs)" 'BEGIN { printf "%.2f", b - a }'; }

echo "== dfs_bench: $(nproc) cores, $(uname -r), $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD)"
echo "== MooseFS $(dpkg-query -W -f='${Version}' moosefs-master), 1 master, 2 chunkservers, 3 FUSE mounts"

auto_pick() {
  "$PY" - "$1" <<'EOF'
import sys, kvtier
with kvtier.Store(sys.argv[1], {"model": "bench/auto-pick"}) as s:
    print(f"auto picks: loads {s.io_backend} direct_io={s.load_direct_io}, "
          f"stores direct_io={s.store_direct_io}, "
          f"segment {int(s.stats().get('segment_bytes', 0)) >> 10} KiB")
EOF
}

# A part that fails is reported and the run goes on to the next part (the
# cluster still comes down at the end).
part() { "$@" || echo "!! $1 failed with status $?"; }
want() { [[ " $PARTS " == *" $1 "* ]]; }

store_bench() {
  "$KVTIER" bench --dir "$1" --size "$STORE_SIZE" --count "$STORE_COUNT" \
    --threads "$STORE_THREADS" --repeat "$STORE_REPEAT"
}

tier_bench() {
  local opts=() o
  for o in $TIER_OPTS; do opts+=(--kvtier-opt "$o"); done
  for o in $TIER_VARIANTS; do opts+=(--variant "$o"); done
  "$PY" bench/vllm_tier_vs_builtin.py --dirs "${MNT[0]}/tier" \
    --load-dirs "${MNT[1]}/tier" "${MNT[2]}/tier" --prefix-tokens "$PREFIX_TOKENS" \
    --threads "$TIER_THREADS" --repeat "$TIER_REPEAT" "${opts[@]}"
}

# shellcheck source=bench/dfs_ceiling.sh
source bench/dfs_ceiling.sh

evictor_bench() {
  local ns=bench-model-0123456789ab t0
  "$EVICTOR_BENCH" make-tree "$tmpl" "$EVICT_N" >/dev/null
  t0=$(secs)
  mkdir -p "${MNT[0]}/ev/$ns"
  cp -a "$tmpl/$ns/fingerprint.json" "${MNT[0]}/ev/$ns/"
  # cp -a keeps the atimes (the LRU order); one copy per fan-out directory
  # in parallel, since one thread would wait out every round trip.
  find "$tmpl/$ns" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' |
    xargs -P 32 -I{} cp -a "$tmpl/$ns/{}" "${MNT[0]}/ev/$ns/"
  echo "evict tree: $EVICT_N files copied in $(elapsed "$t0") s"
  # Mount 1 has not seen the tree: its first find is cold.
  local i t
  for i in cold warm1 warm2; do
    t0=$(secs)
    find "${MNT[1]}/ev" -printf '%A@ %s %p\n' >/dev/null
    t=$(elapsed "$t0")
    echo "find $i seconds=$t"
  done
  # Mount 2 has not seen it either: the evictor's first scan is cold.
  "$EVICTOR_BENCH" scan "${MNT[2]}/ev" 3
  "$EVICTOR_BENCH" delete "${MNT[2]}/ev"
}

for d in $DELAYS; do
  echo
  echo "=================== delay $d ms per direction ==================="
  up "$d"
  auto_pick "${MNT[0]}"
  if want store; then
    echo "--- store and load vs fio ($STORE_COUNT x $STORE_SIZE, $STORE_THREADS threads, median of $STORE_REPEAT alternating pairs)"
    mkdir -p "${MNT[0]}/kb"
    part store_bench "${MNT[0]}/kb"
  fi
  if want ceiling; then
    echo "--- the mount's ceiling: fio cold reads, jobs ${CEIL_JOBS:-16 32 64}"
    part dfs_ceiling
  fi
  if want tier; then
    echo "--- vLLM tier: kvtier vs built-in fs ($PREFIX_TOKENS tokens)"
    part tier_bench
  fi
  if want evict && [[ $d == "$EVICT_DELAY" ]]; then
    echo "--- evictor scan vs find, deletion ($EVICT_N files)"
    part evictor_bench
  fi
  down
done

if want lookup && [[ -n $LOOKUP_DELAY ]]; then
  echo
  echo "=================== lookups, delay $LOOKUP_DELAY ms per direction ==================="
  up "$LOOKUP_DELAY"
  mkdir -p "${MNT[0]}/lk"
  part "$PY" bench/dfs_lookups.py "${MNT[0]}/lk" "${MNT[1]}/lk" "${MNT[2]}/lk" --keys "$LOOKUP_KEYS"
  # The delay the io_uring / O_DIRECT finding was made at.
  auto_pick "${MNT[0]}"
  echo "--- store and load vs fio at $LOOKUP_DELAY ms"
  mkdir -p "${MNT[0]}/kb"
  part store_bench "${MNT[0]}/kb"
  down
fi
echo "== done $(date -u +%Y-%m-%dT%H:%MZ)"
