#!/usr/bin/env bash
# One device call: bench/dfs_bench.sh's side-by-side benchmarks on MooseFS,
# on the GPU host. That host has no package registry, so Debian 12's
# MooseFS, fuse3 and iproute2 packages travel in .gpu-deps-dfs/ (made here by
# bench/gpu/dfs_prepare.sh) and are unpacked, not installed
# (bench/gpu/dfs_root.sh); tools/dfs.sh runs them through KVTIER_DFS_ROOT.
# kvtier (CLI and Python extension, io_uring backend) is built from the
# source snapshot .gpu-deps-dfs/kvtier-src.tar.gz, the commit it names, not
# from the working tree the call carries; fio 3.33 from source where the
# host has no fio. Then, for each delay (ms per direction), one cluster of
# 1 master, 2 chunkservers and 3 FUSE mounts:
#
#   store   `kvtier bench` vs fio, same files, threads, engine and O_DIRECT
#           mode (64 x 8 MiB, 4 threads, median of 3 alternating pairs)
#   tier    kvtier's vLLM tier vs vLLM's built-in `fs` tier
#           (bench/vllm_tier_vs_builtin.py through bench/gpu/vllm_entry.py):
#           50,000 tokens of Llama-3.3-70B at TP 8 (196 chunks of 10 MiB),
#           stored through mount 0, load-1 through mount 1 and load-20
#           through mount 2, so every load starts cold, as on another node
#           With TIER_VARIANTS ("NAME:KEY=VALUE,..." words, e.g.
#           "default: seg1m:segment_bytes=1048576") kvtier runs once per
#           variant beside one built-in run (--variant of the benchmark);
#           TIER_TIMELINE=1 prints each load-20 run's course (--timeline:
#           jobs' finishing times, mount 2's FUSE requests waiting and its
#           daemon's GB/s per 50 ms)
#   ceiling fio's cold reads with many jobs through the mounts, O_DIRECT and
#           buffered, FUSE requests in flight sampled (bench/dfs_ceiling.sh;
#           CEIL_JOBS, CEIL_FILES, CEIL_SIZE, CEIL_BUFFERED, CEIL_MAXBG)
#   sglang  kvtier's SGLang HiCache backend vs SGLang's `file` backend
#           (bench/sglang_vs_file.py, as bench/dfs_sglang.sh runs it: stored
#           through mount 0, fetched through mount 1), at SGLANG_DELAYS
#           only (default 0.5), SGLANG_REPEATS times (default 1: `file`'s
#           one-page-at-a-time store of 20 prefixes alone takes minutes
#           through a delayed mount), kvtier once per SGLANG_DIRECT_IO value
#           of its direct_io option (default "auto false"); with
#           SGLANG_STORE_DELAY=D both backends store at D ms and fetch at
#           the delay of the pass (tools/dfs.sh delay; `file`'s store alone
#           takes minutes at 2 ms; the other parts of such a pass also go
#           through the delay relay, at 0 ms too); needs
#           .gpu-deps-dfs/sglang (SGLANG=1 bench/gpu/dfs_prepare.sh). It runs
#           on the CPU, as in CI: the GPU is hidden from it and vLLM's
#           platform pinned as in vllm_entry.py
#
#   OUT=dir [DELAYS="0 0.5 2"] [PARTS="store tier"] bash bench/gpu/dfs_bench.sh
#
# Everything goes to $OUT/dfs-bench.txt (and the terminal); $OUT/dfs-ldd.txt
# says what the carried programs link there. A delay is not started once
# BUDGET_S seconds (default 480) have passed, so the cluster always comes
# down inside a 600 s call. Sizes: STORE_SIZE, STORE_COUNT, STORE_THREADS,
# STORE_REPEAT, STORE_BACKENDS (io_uring), STORE_MODES (direct,buffered),
# STORE_SEGMENTS (transfer units, e.g. "512K 2M": one store run each; empty:
# the store's own), STORE_AB=1 (each store run three times: with the CLI of
# the base commit that `dfs_prepare.sh --base COMMIT` packed, this one's,
# the base's again),
# PREFIX_TOKENS, TIER_THREADS, TIER_REPEAT.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/kvtier-gpu-out}
deps=$PWD/.gpu-deps-dfs
mkdir -p "$OUT"

# Run the snapshot's copy of this script, so a working tree that others
# are editing never changes what is built or measured.
if [[ -z ${KVTIER_DFS_SNAPSHOT:-} ]]; then
  commit=$(cat "$deps/kvtier-src.commit")
  src=/tmp/kvtier-dfs-src-$commit  # kept while the host stays warm
  if [[ ! -d $src ]]; then
    mkdir -p "$src.part" && tar -xzf "$deps/kvtier-src.tar.gz" -C "$src.part" && mv "$src.part" "$src"
  fi
  ln -sfn "$deps" "$src/.gpu-deps-dfs"
  KVTIER_DFS_SNAPSHOT=$commit OUT=$OUT exec bash "$src/bench/gpu/dfs_bench.sh" "$@"
fi

DELAYS=${DELAYS:-"0 0.5 2"}
PARTS=${PARTS:-"store tier"}
BUDGET_S=${BUDGET_S:-480}
STORE_SIZE=${STORE_SIZE:-8M}
STORE_COUNT=${STORE_COUNT:-64}
STORE_THREADS=${STORE_THREADS:-4}
STORE_REPEAT=${STORE_REPEAT:-3}
STORE_BACKENDS=${STORE_BACKENDS:-io_uring}
STORE_MODES=${STORE_MODES:-direct,buffered}
STORE_SEGMENTS=${STORE_SEGMENTS:-}
PREFIX_TOKENS=${PREFIX_TOKENS:-50000}
TIER_THREADS=${TIER_THREADS:-16}
TIER_REPEAT=${TIER_REPEAT:-1}
TIER_VARIANTS=${TIER_VARIANTS:-}
TIER_TIMELINE=${TIER_TIMELINE:-}
CEIL_JOBS=${CEIL_JOBS:-"16 32 64"}
SGLANG_DELAYS=${SGLANG_DELAYS:-0.5}
SGLANG_REPEATS=${SGLANG_REPEATS:-1}
SGLANG_DIRECT_IO=${SGLANG_DIRECT_IO:-"auto false"}
SGLANG_STORE_DELAY=${SGLANG_STORE_DELAY:-}
exec > >(tee -a "$OUT/dfs-bench.txt") 2>&1

echo "== dfs on the GPU host: kvtier $KVTIER_DFS_SNAPSHOT, $(nproc) cores," \
  "$(. /etc/os-release && echo "$PRETTY_NAME"), kernel $(uname -r), $(date -u +%Y-%m-%dT%H:%MZ)"
echo "== load $(cut -d' ' -f1-3 /proc/loadavg); memory $(free -g | awk '/^Mem/ { print $2 " GiB, " $7 " GiB available" }');" \
  "chunks on $(df -h --output=source,fstype,size,avail /var/tmp | tail -1)"

# ---- MooseFS, fio, kvtier -----------------------------------------------------
# shellcheck source=bench/gpu/dfs_root.sh
source bench/gpu/dfs_root.sh
# shellcheck source=bench/gpu/build_lib.sh
source bench/gpu/build_lib.sh
# fio only for the parts that run it (store, ceiling): its source travels
# only with FIO_SRC=... bench/gpu/dfs_prepare.sh.
if ! command -v fio >/dev/null && [[ " $PARTS " == *" store "* || " $PARTS " == *" ceiling "* ]]; then
  fio_from_source "$deps/fio/fio-src.tar.gz" /tmp/kvtier-dfs-fio "$OUT/fio-build.txt"
fi
echo "== $(fio --version 2>/dev/null || echo no fio), cc $(cc -dumpfullversion), python $(python3 -c 'import sys; print(sys.version.split()[0])')"

# CMake finds liburing through a stand-in for pkg-config (the host has
# neither; the headers and static library travel).
tools=/tmp/kvtier-dfs-tools
uring_pkg_config "$tools" "$deps/uring"
python3 -m pip install -q --no-index --no-deps --upgrade --target "$tools/nanobind" "$deps"/wheels/nanobind-*.whl
t_build=$SECONDS
PYTHONPATH=$tools/nanobind cmake -S . -B build/gpu-dfs -DCMAKE_BUILD_TYPE=Release \
  -DKVTIER_BUILD_TESTS=OFF -DKVTIER_BUILD_PYTHON=ON -DPython_EXECUTABLE="$(command -v python3)" \
  -DPKG_CONFIG_EXECUTABLE="$tools/pkg-config" -DKVTIER_THIRD_PARTY_INCLUDE="$deps/include" \
  >"$OUT/cmake.txt" 2>&1 || { cat "$OUT/cmake.txt"; exit 1; }
grep -q "io_uring backend enabled" "$OUT/cmake.txt" || { echo "built without io_uring" >&2; exit 1; }
cmake --build build/gpu-dfs -j"$(nproc)" --target kvtier_cli _kvtier >>"$OUT/cmake.txt" 2>&1 ||
  { tail -40 "$OUT/cmake.txt"; exit 1; }
echo "== kvtier built in $((SECONDS - t_build)) s"
KVTIER=$PWD/build/gpu-dfs/src/cli/kvtier
KVTIER_BASE=""
if [[ -n ${STORE_AB:-} ]]; then
  [[ -s $deps/base-src.tar.gz ]] || { echo "STORE_AB: no base; run dfs_prepare.sh --base COMMIT" >&2; exit 1; }
  base=/tmp/kvtier-dfs-base-$(cat "$deps/base-src.commit")
  if [[ ! -x $base/build/src/cli/kvtier ]]; then
    rm -rf "$base" && mkdir -p "$base" && tar -xzf "$deps/base-src.tar.gz" -C "$base"
    cmake -S "$base" -B "$base/build" -DCMAKE_BUILD_TYPE=Release -DKVTIER_BUILD_TESTS=OFF \
      -DKVTIER_BUILD_PYTHON=OFF -DPKG_CONFIG_EXECUTABLE="$tools/pkg-config" \
      -DKVTIER_THIRD_PARTY_INCLUDE="$deps/include" >"$OUT/cmake-base.txt" 2>&1 &&
      cmake --build "$base/build" -j"$(nproc)" --target kvtier_cli >>"$OUT/cmake-base.txt" 2>&1 ||
      { tail -40 "$OUT/cmake-base.txt"; exit 1; }
  fi
  KVTIER_BASE=$base/build/src/cli/kvtier
  echo "== base CLI: $(cat "$deps/base-src.commit")"
fi

# Python: vLLM's carried files and wheels (once per warm host), kvtier from
# this build.
site=/tmp/kvtier-dfs-site
if [[ ! -f $site/.ready ]]; then
  rm -rf "$site"
  python3 -m pip install -q --no-deps --no-index --target "$site" "$deps"/vllm/wheels/*.whl
  tar -xzf "$deps/vllm/vllm-trim.tar.gz" -C "$site"
  touch "$site/.ready"
fi
if [[ " $PARTS " == *" sglang "* && ! -f $site/.sglang-ready ]]; then
  python3 -m pip install -q --no-deps --no-index --target "$site" "$deps"/sglang/wheels/*.whl
  tar -xzf "$deps/sglang/sglang-trim.tar.gz" -C "$site"
  touch "$site/.sglang-ready"
fi
rm -rf "$site/kvtier"
cp -r python/kvtier "$site/"
cp build/gpu-dfs/src/python/_kvtier*.so "$site/kvtier/"
export PYTHONPATH=$site
python3 -c 'import kvtier, vllm; print("== vllm", vllm.__version__, "kvtier from", kvtier.__file__)'

bash tools/dfs.sh check

# ---- the benchmarks -------------------------------------------------------------
cluster=/var/tmp/kvtier-dfs-cluster
# tier_bench and dfs_ceiling mount fusectl where it is not (CTL_MOUNTED):
# unmounted here too when the script is stopped half way.
trap 'bash tools/dfs.sh down "$cluster" >/dev/null 2>&1 || true
  [[ -z ${CTL_MOUNTED:-} ]] || umount /sys/fs/fuse/connections 2>/dev/null || true' EXIT
want() { [[ " $PARTS " == *" $1 "* ]]; }
# After each part, with a delay: the delay relay's CPU time over the part
# (one thread carries all client traffic; near 1 s per wall second it
# would bound the mount) and its forwarded/dropped packet counts so far.
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
part() {
  local t0=$SECONDS c0=0
  [[ -z ${DFS_RELAY_PID:-} ]] || c0=$(ticks "$DFS_RELAY_PID")
  "$@" || echo "!! $1 failed with status $?"
  if [[ -n ${DFS_RELAY_PID:-} ]]; then
    kill -USR1 "$DFS_RELAY_PID" 2>/dev/null && sleep 0.2
    echo "-- relay: $(awk -v t="$(($(ticks "$DFS_RELAY_PID") - c0))" -v hz="$(getconf CLK_TCK)" \
      'BEGIN { printf "%.1f", t / hz }') CPU s in $((SECONDS - t0)) s;" \
      "$(grep 'forwarded' "$DFS_STATE/log/relay.log" | tail -1)"
  fi
}

auto_pick() {
  python3 - "$1" <<'EOF'
import sys, kvtier
with kvtier.Store(sys.argv[1], {"model": "bench/auto-pick"}) as s:
    print(f"auto picks: loads {s.io_backend} direct_io={s.load_direct_io}, "
          f"stores direct_io={s.store_direct_io}, "
          f"segment {int(s.stats().get('segment_bytes', 0)) >> 10} KiB")
EOF
}

store_bench() {  # store_bench DIR [SEGMENT]
  local round=0 cli
  for cli in ${KVTIER_BASE:+"$KVTIER_BASE"} "$KVTIER" ${KVTIER_BASE:+"$KVTIER_BASE"}; do
    round=$((round + 1))
    [[ -n $KVTIER_BASE ]] && echo "-- CLI $([[ $cli == "$KVTIER" ]] && echo "$KVTIER_DFS_SNAPSHOT (tree)" || cat "$deps/base-src.commit") (pass $round)"
    "$cli" bench --dir "$1" --size "$STORE_SIZE" --count "$STORE_COUNT" \
      --threads "$STORE_THREADS" --repeat "$STORE_REPEAT" --backends "$STORE_BACKENDS" \
      --modes "$STORE_MODES" ${2:+--segment "$2"}
  done
}

# shellcheck source=bench/dfs_ceiling.sh
source bench/dfs_ceiling.sh

tier_bench() {
  local variants=() v timeline=() was_up=${CTL_MOUNTED:-} rc=0
  for v in $TIER_VARIANTS; do variants+=(--variant "$v"); done
  if [[ -n $TIER_TIMELINE ]]; then
    timeline=(--timeline --daemon-pid "${MNT_PIDS[2]}")
    fusectl_up
  fi
  python3 bench/gpu/vllm_entry.py --dirs "${MNT[0]}/tier" \
    --load-dirs "${MNT[1]}/tier" "${MNT[2]}/tier" --prefix-tokens "$PREFIX_TOKENS" \
    --threads "$TIER_THREADS" --repeat "$TIER_REPEAT" "${variants[@]}" "${timeline[@]}" || rc=$?
  [[ -n $was_up ]] || fusectl_down
  return $rc
}

# bench/dfs_sglang.sh's arguments (its IO_TIMEOUT_S and RESERVE_GB defaults).
sglang_bench() {
  # shellcheck disable=SC2086  # SGLANG_DIRECT_IO: several words
  local hooks=()
  if [[ -n $SGLANG_STORE_DELAY ]]; then
    hooks=(--before-store "bash tools/dfs.sh delay $cluster $SGLANG_STORE_DELAY"
      --before-fetch "bash tools/dfs.sh delay $cluster $DFS_DELAY_MS")
  fi
  CUDA_VISIBLE_DEVICES="" python3 - --dirs "${MNT[0]}/sglbench" --fetch-dirs "${MNT[1]}/sglbench" \
    --repeats "$SGLANG_REPEATS" --io-timeout-s 600 --sglang-reserve-gb 1 "${hooks[@]}" \
    --kvtier-direct-io $SGLANG_DIRECT_IO \
    --cpu-pids "mfsmount1=${MNT_PIDS[1]}" "chunkservers=${DFS_CHUNKSERVER_PIDS// /,}" \
    "master=$DFS_MASTER_PID" <<'EOF'
import runpy, sys
import vllm.platforms
from vllm.platforms.interface import UnspecifiedPlatform
vllm.platforms._current_platform = UnspecifiedPlatform()
vllm.platforms.current_platform = vllm.platforms._current_platform
sys.argv = ["bench/sglang_vs_file.py", *sys.argv[1:]]
runpy.run_path("bench/sglang_vs_file.py", run_name="__main__")
EOF
}

for d in $DELAYS; do
  echo
  if ((SECONDS > BUDGET_S)); then
    echo "!! delay $d ms skipped: $SECONDS s gone, BUDGET_S=$BUDGET_S"
    continue
  fi
  echo "=================== delay $d ms per direction (at $SECONDS s, load $(cut -d' ' -f1 /proc/loadavg)) ==================="
  t_up=$SECONDS
  relay=()  # the SGLang part changes the delay between its stores and fetches
  if [[ -n $SGLANG_STORE_DELAY ]] && want sglang && [[ " $SGLANG_DELAYS " == *" $d "* ]]; then
    relay=(--relay)
  fi
  bash tools/dfs.sh up "$cluster" --mounts 3 --delay-ms "$d" "${relay[@]}" >"$cluster.env"
  # shellcheck disable=SC1090
  source "$cluster.env"
  read -ra MNT <<<"$DFS_MOUNTS"
  read -ra MNT_PIDS <<<"$DFS_MOUNT_PIDS"
  echo "up in $((SECONDS - t_up)) s"
  auto_pick "${MNT[0]}"
  if want store; then
    echo "--- store and load vs fio ($STORE_COUNT x $STORE_SIZE, $STORE_THREADS threads," \
      "$STORE_BACKENDS x $STORE_MODES, median of $STORE_REPEAT alternating pairs; at $SECONDS s)"
    mkdir -p "${MNT[0]}/kb"
    if [[ -z $STORE_SEGMENTS ]]; then
      part store_bench "${MNT[0]}/kb"
    else
      for seg in $STORE_SEGMENTS; do
        echo "-- segment $seg (at $SECONDS s)"
        part store_bench "${MNT[0]}/kb" "$seg"
      done
    fi
  fi
  if want ceiling; then
    echo "--- the mount's ceiling: fio cold reads, jobs $CEIL_JOBS (at $SECONDS s)"
    part dfs_ceiling
  fi
  if want tier; then
    echo "--- vLLM tier: kvtier vs built-in fs ($PREFIX_TOKENS tokens; at $SECONDS s)"
    part tier_bench
  fi
  if want sglang && [[ " $SGLANG_DELAYS " == *" $d "* ]]; then
    echo "--- SGLang: kvtier backend (direct_io $SGLANG_DIRECT_IO) vs file backend" \
      "(repeats $SGLANG_REPEATS; at $SECONDS s)"
    mkdir -p "${MNT[0]}/sglbench"
    part sglang_bench
  fi
  t_down=$SECONDS
  bash tools/dfs.sh down "$cluster" >/dev/null
  echo "down in $((SECONDS - t_down)) s; load $(cut -d' ' -f1-3 /proc/loadavg)"
done
left=$(grep -c " $cluster/" /proc/self/mounts || true)
echo "== done at $SECONDS s, $(date -u +%Y-%m-%dT%H:%MZ); mounts left under the cluster: $left"
