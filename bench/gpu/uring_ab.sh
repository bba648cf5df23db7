#!/usr/bin/env bash
# One device call: O_DIRECT loads through the io_uring backend with a base
# commit's CLI and a new commit's, alternating (A/B/A/B, the order flipped
# every round), for 8 MiB and 32 MiB chunks on the host's disk. The GPU host
# has no liburing and no package registry, so both source trees and
# liburing (header and static library) travel in .gpu-deps/uring-ab/, with
# a pkg-config stand-in that knows liburing only. Here, after
# bench/gpu/prepare.sh:
#
#   bash bench/gpu/uring_ab.sh --prepare BASE_COMMIT NEW_COMMIT
#
# then on the host (results to $OUT):
#
#   OUT=dir [ROUNDS=2] [THREADS="1 4"] [DIR=/var/tmp/kvtier-uring-ab] bash bench/gpu/uring_ab.sh
#
# On another machine, with both CLIs built: BASE_CLI=... NEW_CLI=... OUT=dir bash bench/gpu/uring_ab.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
deps=$PWD/.gpu-deps/uring-ab

if [[ ${1:-} == --prepare ]]; then
  rm -rf "$deps" && mkdir -p "$deps/uring/include" "$deps/uring/lib"
  cp -r /usr/include/liburing.h /usr/include/liburing "$deps/uring/include/"
  cp /usr/lib/x86_64-linux-gnu/liburing.a "$deps/uring/lib/"
  git archive -o "$deps/base.tar" "$2"
  git archive -o "$deps/new.tar" "$3"
  echo "base $(git rev-parse "$2") new $(git rev-parse "$3")" >"$deps/commits"
  du -sh "$deps"
  exit 0
fi

OUT=${OUT:-/tmp/kvtier-gpu-out}
DIR=${DIR:-/var/tmp/kvtier-uring-ab}
mkdir -p "$OUT"
# shellcheck source=bench/gpu/build_lib.sh
source bench/gpu/build_lib.sh
uring_pkg_config "$deps/bin" "$deps/uring"

build() {  # name
  local src=/tmp/kvtier-uring-ab/$1
  rm -rf "$src" && mkdir -p "$src" && tar -xf "$deps/$1.tar" -C "$src"
  cmake -S "$src" -B "$src/build" -DCMAKE_BUILD_TYPE=Release -DKVTIER_BUILD_TESTS=OFF \
    -DKVTIER_BUILD_EVICTOR=OFF -DPKG_CONFIG_EXECUTABLE="$deps/bin/pkg-config" \
    -DKVTIER_THIRD_PARTY_INCLUDE="$PWD/.gpu-deps/include" >"$OUT/cmake-$1.txt"
  grep -q "io_uring backend enabled" "$OUT/cmake-$1.txt" || {
    echo "$1: built without io_uring" >&2
    exit 1
  }
  cmake --build "$src/build" -j"$(nproc)" --target kvtier_cli >/dev/null
}
# BASE_CLI and NEW_CLI, when set, are CLIs already built (the same
# measurement on another machine); the commits line then names nothing.
if [[ -z ${BASE_CLI:-} ]]; then
  build base
  build new
  BASE_CLI=/tmp/kvtier-uring-ab/base/build/src/cli/kvtier
  NEW_CLI=/tmp/kvtier-uring-ab/new/build/src/cli/kvtier
fi
{
  [[ -f $deps/commits ]] && cat "$deps/commits"
  echo "cores: $(nproc)  kernel: $(uname -r)"
  df -hT "$(dirname "$DIR")" | tail -n +2
} | tee "$OUT/host-uring.txt"

summary=$(
  cat <<'PY'
import json, sys
j = json.load(sys.stdin)
for x in j["runs"]:
    print("\t".join(sys.argv[1:]) + f"\t{x['backend']}/{x['mode']}\tdirect={x['direct_effective']}"
          f"\tstore={x['store_GBps']:.3f}\tload={x['load_GBps']:.3f}\tfailures={x['load_failures']}")
PY
)
for threads in ${THREADS:-1 4}; do
  for size in 8M 32M; do
    count=$((512 / ${size%M}))  # 512 MiB per run
    for ((r = 1; r <= ${ROUNDS:-2}; r++)); do
      order=(base new)
      ((r % 2)) || order=(new base)
      for who in "${order[@]}"; do
        rm -rf "$DIR"
        cli=$BASE_CLI
        [[ $who == new ]] && cli=$NEW_CLI
        "$cli" bench --dir "$DIR" --size "$size" \
          --count "$count" --threads "$threads" --backends io_uring --modes direct --no-fio \
          --json | python3 -c "$summary" "threads=$threads" "size=$size" "round=$r" "$who"
      done
    done
  done
done 2>&1 | tee "$OUT/uring-ab.txt"
rm -rf "$DIR"
