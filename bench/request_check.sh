#!/usr/bin/env bash
# How do kvtier's O_DIRECT chunk loads reach the block device, against fio's
# reads of the same chunk size? Alternating rounds of `kvtier bench --no-fio`
# (store, then load) and fio (write, then read: the job kvtier bench runs),
# each load wrapped in /proc/diskstats snapshots of the directory's device.
# Prints per load: GB/s, device read requests per chunk, KiB per request,
# merges, mean device time per request and mean requests in flight.
#
#   [CLI=build/release/src/cli/kvtier] [MIB=2] [COUNT=512] [THREADS=4]
#   [BACKEND=threadpool] [ROUNDS=6] bash bench/request_check.sh DIR
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${1:?usage: request_check.sh DIR}
CLI=${CLI:-build/release/src/cli/kvtier}
MIB=${MIB:-2}
COUNT=${COUNT:-512}
THREADS=${THREADS:-4}
BACKEND=${BACKEND:-threadpool}
engine=psync
[[ $BACKEND == io_uring ]] && engine=io_uring
mkdir -p "$DIR"
dev=$(basename "$(df --output=source "$DIR" | tail -1)")
grep -q " $dev " /proc/diskstats || { echo "no diskstats for $dev" >&2; exit 2; }
chunk=$((MIB * 1048576))
per_thread=$((COUNT / THREADS))
# reads completed, reads merged, sectors read, ms reading
snap() { awk -v d="$dev" '$3 == d { print $4, $5, $6, $7 }' /proc/diskstats; }
report() {  # who GB/s before after
  python3 - "$@" "$chunk" "$((per_thread * THREADS))" <<'PY'
import sys
who, gbps, before, after, chunk, chunks = sys.argv[1:7]
b = [int(x) for x in before.split()]
a = [int(x) for x in after.split()]
reads, merged, sectors, ms = (a[i] - b[i] for i in range(4))
gbps = float(gbps)
wall_ms = int(chunk) * int(chunks) / (gbps * 1e9) * 1e3
print(f"{who:6s} {gbps:6.3f} GB/s  reqs/chunk {reads / int(chunks):5.2f}  "
      f"KiB/req {sectors * 512 / 1024 / max(reads, 1):7.1f}  merged {merged:5d}  "
      f"ms/req {ms / max(reads, 1):6.3f}  in flight {ms / wall_ms:5.2f}")
PY
}
kv() {
  rm -rf "$DIR/kv"
  local before after out
  # The store phase's writes do not show in the read counters; the load's do.
  before=$(snap)
  out=$("$CLI" bench --dir "$DIR/kv" --size "${MIB}M" --count "$COUNT" --threads "$THREADS" \
    --backends "$BACKEND" --modes direct --no-verify --no-fio --repeat 1 --json)
  after=$(snap)
  report kvtier "$(python3 -c 'import json,sys; print(json.load(sys.stdin)["runs"][0]["load_GBps"])' <<<"$out")" "$before" "$after"
}
fio_job() {  # rw
  fio --name=kvbench --directory="$DIR/fio" --rw="$1" --numjobs="$THREADS" --nrfiles="$per_thread" \
    --filesize="$chunk" --bs="$chunk" --ioengine="$engine" --direct=1 \
    --file_service_type=sequential --openfiles=1 --create_on_open=1 --fallocate=none --thread \
    --group_reporting --output-format=json --invalidate=0 2>/dev/null |
    python3 -c "import json,sys; t=sys.stdin.read(); j=json.loads(t[t.find('{'):]); print(j['jobs'][0]['$1']['bw_bytes'] / 1e9)"
}
fio_pair() {
  rm -rf "$DIR/fio" && mkdir -p "$DIR/fio"
  fio_job write >/dev/null
  local before after gbps
  before=$(snap)
  gbps=$(fio_job read)
  after=$(snap)
  report fio "$gbps" "$before" "$after"
  rm -rf "$DIR/fio"
}
echo "device $dev: max_sectors_kb $(cat "/sys/class/block/$dev/queue/max_sectors_kb" 2>/dev/null || echo '?')" \
  "max_segments $(cat "/sys/class/block/$dev/queue/max_segments" 2>/dev/null || echo '?')" \
  "THP $(cat /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null || echo '?')"
echo "O_DIRECT loads of $((per_thread * THREADS)) x ${MIB} MiB, $THREADS threads, $BACKEND / $engine, verify off"
for round in $(seq "${ROUNDS:-6}"); do
  echo "round $round"
  if ((round % 2)); then kv; fio_pair; else fio_pair; kv; fi
done
rm -rf "$DIR/kv" "$DIR/fio"
