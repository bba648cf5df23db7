#!/usr/bin/env bash
# One device call: one `kvtier bench` cell with this tree's CLI and with a
# base commit's (BASE_TAR, made by `git archive -o .gpu-deps/base-src.tar
# COMMIT`), alternating ROUNDS times (base first in odd rounds), after a
# device-request check of this tree's O_DIRECT loads against fio's
# (bench/request_check.sh). Results go to $OUT.
#
#   OUT=dir [BASE_TAR=.gpu-deps/base-src.tar] [ROUNDS=2] [RQ_ROUNDS=6] \
#     bash bench/gpu/ab_cell.sh BENCH-ARGS...
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/kvtier-gpu-out}
BASE_TAR=${BASE_TAR:-.gpu-deps/base-src.tar}
mkdir -p "$OUT"
source bench/gpu/build_lib.sh
fio_from_source .gpu-deps-fio/fio-src.tar.gz /tmp/kvtier-gpu-fio  # once per warm host, on PATH
build() {  # source-dir build-dir
  cmake -S "$1" -B "$2" -DCMAKE_BUILD_TYPE=Release -DKVTIER_BUILD_TESTS=OFF \
    -DKVTIER_THIRD_PARTY_INCLUDE="$PWD/.gpu-deps/include" >/dev/null
  cmake --build "$2" -j"$(nproc)" --target kvtier_cli >/dev/null
}
build . build/gpu
base=/tmp/kvtier-base-src
rm -rf "$base" && mkdir -p "$base" && tar -xf "$BASE_TAR" -C "$base"
build "$base" "$base/build"
if ((${RQ_ROUNDS:-6} > 0)); then
  CLI=build/gpu/src/cli/kvtier MIB=${MIB:-2} THREADS=${THREADS:-4} COUNT=${COUNT:-512} \
    ROUNDS=$RQ_ROUNDS bash bench/request_check.sh /var/tmp/kvtier-rq | tee "$OUT/request-check.txt"
fi
{
  echo "### kvtier bench $*"
  for round in $(seq "${ROUNDS:-2}"); do
    order=(base tree)
    ((round % 2)) || order=(tree base)
    for who in "${order[@]}"; do
      cli=build/gpu/src/cli/kvtier
      [[ $who == base ]] && cli=$base/build/src/cli/kvtier
      echo "## round $round: $who"
      "$cli" bench "$@" --json | python3 bench/format_bench.py | grep -v memcpy
    done
  done
} 2>&1 | tee "$OUT/ab-cell.txt"
