#!/usr/bin/env bash
# Load throughput on /dev/shm by transfer segment size, with and without
# checksum verification, at 1 and at all threads: where hashing each segment
# right after it is copied stops costing memory bandwidth. Needs the CLI built
# by store_bench.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
CLI=${CLI:-build/gpu/src/cli/kvtier}
dir=/dev/shm/kvtier-segment-sweep
for t in 1 "$(nproc)"; do
  for seg in 128K 256K 512K 1M 4M; do
    for verify in "" --no-verify; do
      printf 'threads %2s segment %4s %-11s ' "$t" "$seg" "${verify:-verify}"
      "$CLI" bench --dir "$dir" --size 32M --count 128 --threads "$t" --modes buffered \
        --no-fio --segment "$seg" --repeat 3 $verify --json |
        python3 -c 'import json, sys; r = json.load(sys.stdin)["runs"][0]; print("store %6.2f  load %6.2f GB/s" % (r["store_GBps"], r["load_GBps"]))'
    done
  done
done
rm -rf "$dir"
