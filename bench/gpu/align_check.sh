#!/usr/bin/env bash
# One device call: does a payload that starts 4 KiB into its file (kvtier's
# header comes first) read slower with O_DIRECT than one at offset 0 (the
# built-in tier's payload-only files)? fio alone, 16 jobs x 12 files of
# 32 MiB payload each, whole-payload reads, alternating, ROUNDS rounds (3).
#
#   OUT=dir [ROUNDS=n] bash bench/gpu/align_check.sh [DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/kvtier-gpu-out}
DIR=${1:-/var/tmp/kvtier-align}
mkdir -p "$OUT"
source bench/gpu/build_lib.sh
fio_from_source .gpu-deps-fio/fio-src.tar.gz /tmp/kvtier-gpu-fio  # once per warm host, on PATH
rm -rf "$DIR" && mkdir -p "$DIR/at0" "$DIR/at4k"
common="--rw=read --bs=32m --direct=1 --ioengine=psync --numjobs=16 --nrfiles=12
  --file_service_type=sequential --openfiles=1 --thread --group_reporting
  --output-format=json --invalidate=0"
run() {  # name dir filesize offset
  # shellcheck disable=SC2086
  fio --name="$1" --directory="$2" --filesize="$3" --offset="$4" $common |
    python3 -c 'import json,sys; j=json.load(sys.stdin)["jobs"][0]["read"]; print("%.3f" % (j["bw_bytes"]/1e9))'
}
# Lay the files out once (fio writes them before the first read job).
run at0 "$DIR/at0" 32m 0 >/dev/null
run at4k "$DIR/at4k" 32772k 4k >/dev/null
{
  echo "fio O_DIRECT reads, 16 jobs x 12 files, 32 MiB per file read: GB/s"
  for round in $(seq "${ROUNDS:-3}"); do
    a=$(run at0 "$DIR/at0" 32m 0)
    b=$(run at4k "$DIR/at4k" 32772k 4k)
    echo "round $round: payload at offset 0: $a   payload at offset 4 KiB: $b"
  done
} | tee "$OUT/align-check.txt"
rm -rf "$DIR"
