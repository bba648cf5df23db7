#!/usr/bin/env bash
# One device call: the store's throughput vs fio (bench/store_vs_fio.sh) on
# the GPU host, which has no package registry: fio is built from the source
# in .gpu-deps-fio/ and the kvtier CLI against the headers in .gpu-deps/
# (bash bench/gpu/prepare.sh with FIO_SRC set). Results go to $OUT.
#
#   OUT=dir THREADS=N TOTAL_MIB=M bash bench/gpu/store_bench.sh
#   OUT=dir bash bench/gpu/store_bench.sh -- BENCH-ARGS...   (one `kvtier bench`
#       per `--`-separated argument list instead of the whole sweep)
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/kvtier-gpu-out}
mkdir -p "$OUT"
source bench/gpu/build_lib.sh
fio_from_source .gpu-deps-fio/fio-src.tar.gz /tmp/kvtier-gpu-fio  # once per warm host, on PATH
cmake -S . -B build/gpu -DCMAKE_BUILD_TYPE=Release -DKVTIER_BUILD_TESTS=OFF \
  -DKVTIER_THIRD_PARTY_INCLUDE="$PWD/.gpu-deps/include" >/dev/null
cmake --build build/gpu -j"$(nproc)" --target kvtier_cli >/dev/null
{
  echo "cores: $(nproc)"
  fio --version
  lscpu | grep -E 'Model name|L2 cache|L3 cache|Socket|NUMA node\(s\)'
  df -hT /dev/shm /var/tmp | tail -n +2
} | tee "$OUT/host-store.txt"
if [[ ${1:-} == -- ]]; then
  shift
  args=()
  for a in "$@" --; do
    if [[ $a == -- ]]; then
      echo "### kvtier bench ${args[*]}"
      build/gpu/src/cli/kvtier bench "${args[@]}"
      args=()
    else
      args+=("$a")
    fi
  done 2>&1 | tee -a "$OUT/store-cells.txt"
  exit 0
fi
CLI=build/gpu/src/cli/kvtier bash bench/store_vs_fio.sh /var/tmp/kvtier-fio /dev/shm/kvtier-fio \
  | tee "$OUT/store_vs_fio-t${THREADS:-2}.txt"
