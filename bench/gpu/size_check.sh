#!/usr/bin/env bash
# One device call: what does reading a chunk file whole (4 KiB header +
# payload, kvtier's layout) cost against reading a payload-only file (fio's
# baseline), with O_DIRECT? fio alone, JOBS jobs x FILES files per job,
# whole-file reads, alternating, ROUNDS rounds. Prints payload GB/s for both
# (the header's 4 KiB is not counted as payload) and the block queue limits
# that decide how one read is cut into device requests.
#
#   OUT=dir [MIB=2] [JOBS=4] [FILES=128] [ROUNDS=6] bash bench/gpu/size_check.sh [DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/kvtier-gpu-out}
DIR=${1:-/var/tmp/kvtier-size}
MIB=${MIB:-2}
mkdir -p "$OUT"
source bench/gpu/build_lib.sh
fio_from_source .gpu-deps-fio/fio-src.tar.gz /tmp/kvtier-gpu-fio  # once per warm host, on PATH
rm -rf "$DIR" && mkdir -p "$DIR/payload" "$DIR/chunk"
payload_k=$((MIB * 1024))
chunk_k=$((payload_k + 4))
common="--rw=read --direct=1 --ioengine=psync --numjobs=${JOBS:-4} --nrfiles=${FILES:-128}
  --file_service_type=sequential --openfiles=1 --thread --group_reporting
  --output-format=json --invalidate=0"
run() {  # dir file-KiB -> payload GB/s
  # shellcheck disable=SC2086
  fio --name=size --directory="$1" --filesize="$2k" --bs="$2k" $common |
    python3 -c "import json,sys; j=json.load(sys.stdin)['jobs'][0]['read']; print('%.3f' % (j['bw_bytes'] / 1e9 * $payload_k / $2))"
}
run "$DIR/payload" "$payload_k" >/dev/null  # lays the files out
run "$DIR/chunk" "$chunk_k" >/dev/null
{
  dev=$(basename "$(df --output=source "$DIR" | tail -1)")
  for f in max_sectors_kb max_hw_sectors_kb max_segments max_segment_size nr_requests; do
    echo "$dev $f: $(cat "/sys/block/$dev/queue/$f" 2>/dev/null || echo '?')"
  done
  echo "fio O_DIRECT whole-file reads, ${JOBS:-4} jobs x ${FILES:-128} files: payload GB/s"
  for round in $(seq "${ROUNDS:-6}"); do
    if ((round % 2)); then
      a=$(run "$DIR/payload" "$payload_k")
      b=$(run "$DIR/chunk" "$chunk_k")
    else
      b=$(run "$DIR/chunk" "$chunk_k")
      a=$(run "$DIR/payload" "$payload_k")
    fi
    echo "round $round: ${MIB} MiB payload-only files: $a   4 KiB header + ${MIB} MiB: $b   ratio $(python3 -c "print('%.2f' % ($b / $a))")"
  done
} | tee "$OUT/size-check-${MIB}m.txt"
rm -rf "$DIR"
