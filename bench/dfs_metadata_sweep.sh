#!/usr/bin/env bash
# How many lookups at once a MooseFS FUSE mount serves, and what kvtier's
# batched `contains` reaches against it, at DELAY ms per direction
# (tools/dfs.sh, 3 mounts):
#
#   1. bench/dfs_metadata_sweep.py: threads 1..128 each fstatat() names
#      relative to held directory handles (one LOOKUP round trip each),
#      through mount 1 (the harness's mfsmount: libfuse's default of at most
#      10 worker threads) and through extra mounts of the same filesystem
#      started here with `-o max_threads=N` for each N of MAX_THREADS;
#   2. batch: bench/dfs_lookups.py (kvtier's `contains` of LOOKUP_KEYS keys,
#      cold, 16 read threads) through mount 1 and through each extra mount;
#   3. prefix: bench/dfs_metadata_prefix.py, a cold `contains` of one
#      196-key prefix per fresh process through mount 1, PREFIX_ROUNDS
#      rounds, each running every build of SITES once (order rotated).
#
#   bash bench/dfs_metadata_sweep.sh [RESULTS_FILE]
#
# Environment: PARTS ("sweep batch prefix"), DELAY (1), MAX_THREADS ("128"),
# THREADS ("1 2 4 8 16 32 64 128"), SECONDS_PER_POINT (3), ROUNDS (2),
# LOOKUP_KEYS (20000), PREFIX_ROUNDS (6), SITES ("LABEL=DIR ...": package
# directories put first on PYTHONPATH, one per build compared; default: the
# environment's own), PY (the project's venv). Needs root (tools/dfs.sh check).
# Everything brought up, the extra mounts included, is brought down on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

DELAY=${DELAY:-1}
MAX_THREADS=${MAX_THREADS:-128}
THREADS=${THREADS:-"1 2 4 8 16 32 64 128"}
SECONDS_PER_POINT=${SECONDS_PER_POINT:-3}
ROUNDS=${ROUNDS:-2}
LOOKUP_KEYS=${LOOKUP_KEYS:-20000}
PARTS=${PARTS:-"sweep batch prefix"}
PREFIX_ROUNDS=${PREFIX_ROUNDS:-6}
SITES=${SITES:-"env=${PYTHONPATH:-}"}
PY=${PY:-$HOME/.cache/kvtier/venv/bin/python}
OUT=${1:-bench/results/dfs-metadata-sweep-$(date -u +%Y%m%d-%H%M).txt}

# shellcheck source=bench/dfs_lib.sh
source bench/dfs_lib.sh
extra_pids=()
extra_mnts=()
# The extra mounts go before the cluster.
drop_extras() {
  local m p
  for m in "${extra_mnts[@]}"; do umount -l "$m" 2>/dev/null || true; done
  for p in "${extra_pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
}
DFS_ON_EXIT=drop_extras
dfs_start dfs-sweep "$OUT"

echo "== dfs_metadata_sweep: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)," \
  "$(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD), delay $DELAY ms"
dfs_up "$DELAY" 3

# Extra mounts of the same filesystem with more FUSE worker threads; they
# reach the master through the same delayed link as the harness's mounts.
probe=("${MNT[1]}:${MNT_PIDS[1]}")
for n in $MAX_THREADS; do
  m=$work/mnt-t$n
  mkdir -p "$m"
  setsid mfsmount -f "$m" -H "$DFS_MASTER_HOST" -P "$DFS_MASTER_PORT" -S /fs \
    -o mfserroronnospace -o "max_threads=$n" >"$work/mount-t$n.log" 2>&1 </dev/null &
  extra_pids+=("$!")
  extra_mnts+=("$m")
  for _ in $(seq 600); do mountpoint -q "$m" && break; sleep 0.05; done
  mountpoint -q "$m" || { echo "extra mount max_threads=$n did not come up"; exit 1; }
  probe+=("$m:$!")
done
echo "mounts probed: harness mount 1 (pid ${MNT_PIDS[1]})$(for n in $MAX_THREADS; do printf ', mnt-t%s (-o max_threads=%s)' "$n" "$n"; done)"

want() { [[ " $PARTS " == *" $1 "* ]]; }
site_py() {  # site_py LABEL=DIR ARGS...: the venv's Python with DIR first on PYTHONPATH
  local dir=${1#*=}
  shift
  PYTHONPATH="$dir${PYTHONPATH:+:$PYTHONPATH}" "$PY" "$@"
}
read -ra SITE <<<"$SITES"

if want sweep; then
mkdir -p "${MNT[0]}/sweep"
paths=()
for p in "${probe[@]}"; do paths+=("${p%:*}/sweep:${p##*:}"); done
# shellcheck disable=SC2086
"$PY" bench/dfs_metadata_sweep.py "${MNT[0]}/sweep" --mounts "${paths[@]}" --threads $THREADS \
  --seconds "$SECONDS_PER_POINT" --rounds "$ROUNDS" --master "$DFS_MASTER_HOST:$DFS_MASTER_PORT" ||
  echo "!! dfs_metadata_sweep.py failed"
fi

if want batch; then
  i=0
  for p in "${probe[@]}"; do
    m=${p%:*}
    for s in "${SITE[@]}"; do
      echo "--- kvtier contains through ${m#"$work"/}, build ${s%%=*} (load $(cut -d' ' -f1 /proc/loadavg))"
      mkdir -p "${MNT[0]}/lk$i"
      site_py "$s" bench/dfs_lookups.py "${MNT[0]}/lk$i" "$m/lk$i" "${MNT[2]}/lk$i" \
        --keys "$LOOKUP_KEYS" --master "$DFS_MASTER_HOST:$DFS_MASTER_PORT" ||
        echo "!! dfs_lookups.py failed on $m"
      i=$((i + 1))
    done
  done
fi

if want prefix; then
  n=$((PREFIX_ROUNDS * ${#SITE[@]}))
  echo "--- cold contains of one 196-key prefix through mount 1: $n prefixes stored"
  mkdir -p "${MNT[0]}/px"
  site_py "${SITE[0]}" bench/dfs_metadata_prefix.py store "${MNT[0]}/px" --prefixes "$n"
  idx=0
  for r in $(seq "$PREFIX_ROUNDS"); do
    for j in $(seq 0 $((${#SITE[@]} - 1))); do
      s=${SITE[$(((j + r) % ${#SITE[@]}))]}
      sleep 1.2  # past the mount's 1 s directory entry cache
      echo "round=$r build=${s%%=*} $(site_py "$s" bench/dfs_metadata_prefix.py lookup \
        "${MNT[1]}/px" --index "$idx" --master "$DFS_MASTER_HOST:$DFS_MASTER_PORT")"
      idx=$((idx + 1))
    done
  done
fi
echo "== done $(date -u +%Y-%m-%dT%H:%MZ), load $(cut -d' ' -f1-3 /proc/loadavg)"
