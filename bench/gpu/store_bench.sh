#!/usr/bin/env bash
# One device call: the store's throughput vs fio (bench/store_vs_fio.sh) on
# the GPU host, which has no package registry: fio is built from the source
# in .gpu-deps-fio/ and the kvtier CLI against the headers in .gpu-deps/
# (bash bench/gpu/prepare.sh with FIO_SRC set). Results go to $OUT.
#
#   OUT=dir THREADS=N TOTAL_MIB=M bash bench/gpu/store_bench.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/kvtier-gpu-out}
mkdir -p "$OUT"
work=$(mktemp -d)
mkdir -p "$work/fio"
tar -xzf .gpu-deps-fio/fio-src.tar.gz -C "$work/fio"
(cd "$work/fio" && ./configure >/dev/null && make -s -j"$(nproc)" fio >/dev/null 2>&1)
export PATH=$work/fio:$PATH
cmake -S . -B build/gpu -DCMAKE_BUILD_TYPE=Release -DKVTIER_BUILD_TESTS=OFF \
  -DKVTIER_THIRD_PARTY_INCLUDE="$PWD/.gpu-deps/include" >/dev/null
cmake --build build/gpu -j"$(nproc)" --target kvtier_cli >/dev/null
{
  echo "cores: $(nproc)"
  fio --version
  df -hT /dev/shm /var/tmp | tail -n +2
} | tee "$OUT/host-store.txt"
CLI=build/gpu/src/cli/kvtier bash bench/store_vs_fio.sh /var/tmp/kvtier-fio /dev/shm/kvtier-fio \
  | tee "$OUT/store_vs_fio-t${THREADS:-2}.txt"
