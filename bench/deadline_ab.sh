#!/usr/bin/env bash
# The cost of staged loads (the deadline's guard against late reads): the
# same `kvtier bench` cell with --io-timeout 0 (no deadline: loads land
# straight in the caller's buffer) and with the default deadline (loads on
# a filesystem that can stall go through a staging buffer), alternating
# which runs first, ROUNDS times per directory. Prints one line per run.
#
#   CLI=build/release/src/cli/kvtier ROUNDS=4 bash bench/deadline_ab.sh DIR... -- BENCH-ARGS...
set -euo pipefail
CLI=${CLI:-build/release/src/cli/kvtier}
ROUNDS=${ROUNDS:-4}
summary=$(
  cat <<'PY'
import json, sys
j = json.load(sys.stdin)
d, r, t = sys.argv[1:4]
for x in j["runs"]:
    print(f"{d}\tround={r}\tio_timeout={t}\t{x['backend']}/{x['mode']}\t"
          f"store={x['store_GBps']:.3f}\tload={x['load_GBps']:.3f}\tfailures={x['load_failures']}")
PY
)
dirs=()
while (($#)) && [[ $1 != -- ]]; do dirs+=("$1"); shift; done
[[ ${1:-} == -- ]] && shift
for d in "${dirs[@]}"; do
  mkdir -p "$d"
  for ((r = 0; r < ROUNDS; r++)); do
    order=("0" "30")
    ((r % 2)) && order=("30" "0")
    for t in "${order[@]}"; do
      "$CLI" bench --dir "$d/ab" --io-timeout "$t" --no-fio --json "$@" |
        python3 -c "$summary" "$d" "$r" "$t"
      rm -rf "$d/ab"
    done
  done
done
