#!/usr/bin/env bash
# `auto` against every explicit I/O choice on MooseFS, interleaved so that a
# drift in the machine's load hits every choice alike: at each of DELAYS
# (ms per direction) one cluster (tools/dfs.sh, 2 mounts), then ROUNDS
# rounds, each running `kvtier bench --repeat 1` once per choice, in an order
# rotated every round (A B C D E, B C D E A, ...). Chunks are stored through
# mount 0 and loaded through mount 1 (--load-dir: another node, cold client
# caches). Prints the raw runs, then per delay the median store and load
# GB/s per choice and auto / best explicit. LOCAL_DIRS (e.g. "/var/tmp
# /dev/shm") are measured the same way in the same run, stored and loaded
# in place (so buffered loads there read the page cache of what was just
# stored). Before the rounds at each delay, PROBE_BENCH (the
# kvtier-rtt-probe-bench binary, if set) runs PROBE_ROUNDS (20) rounds of the
# FUSE store rule's round-trip probe, old against new, on mount 0.
#
#   bash bench/dfs_auto.sh [RESULTS_FILE]
#
# Environment: DELAYS ("0 0.5 2"), ROUNDS (5), SIZE (8M), COUNT (64),
# THREADS (4), KVTIER (build/release/src/cli/kvtier), LOCAL_DIRS (""),
# PROBE_BENCH (""), PROBE_ROUNDS (20). Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
DELAYS=${DELAYS:-"0 0.5 2"}
ROUNDS=${ROUNDS:-5}
SIZE=${SIZE:-8M}
COUNT=${COUNT:-64}
THREADS=${THREADS:-4}
KVTIER=${KVTIER:-build/release/src/cli/kvtier}
LOCAL_DIRS=${LOCAL_DIRS:-}
PROBE_BENCH=${PROBE_BENCH:-}
PROBE_ROUNDS=${PROBE_ROUNDS:-20}
OUT=${1:-bench/results/dfs-auto-$(date -u +%Y%m%d-%H%M).txt}
[[ -x $KVTIER ]] || { echo "build $KVTIER first (or set KVTIER)" >&2; exit 1; }
# shellcheck source=bench/dfs_lib.sh
source bench/dfs_lib.sh
dfs_start dfs-auto "$OUT"

choices=("auto auto" "threadpool direct" "threadpool buffered" "io_uring direct" "io_uring buffered")
echo "== dfs_auto: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD)"
echo "== $COUNT x $SIZE chunks, $THREADS threads, stored via mount 0, loaded via mount 1, $ROUNDS rounds"

# ROUNDS interleaved rounds of every choice; RUN lines name the filesystem.
rounds() {
  local label=$1 dir=$2 load_dir=$3 r i backend mode json
  for ((r = 0; r < ROUNDS; r++)); do
    for ((i = 0; i < ${#choices[@]}; i++)); do
      read -r backend mode <<<"${choices[(i + r) % ${#choices[@]}]}"
      json=$("$KVTIER" bench --dir "$dir" --load-dir "$load_dir" --size "$SIZE" --count "$COUNT" \
        --threads "$THREADS" --repeat 1 --no-fio --json --backends "$backend" --modes "$mode" ||
        echo '{"runs": []}')
      echo "RUN fs=$label round=$r load=$(cut -d' ' -f1 /proc/loadavg) $(echo "$json" | tr -d ' \n')"
    done
  done
}

for d in $LOCAL_DIRS; do
  mkdir -p "$d/kvtier-dfs-auto"
  rounds "local:$d" "$d/kvtier-dfs-auto" "$d/kvtier-dfs-auto"
  rm -rf "$d/kvtier-dfs-auto"
done
for d in $DELAYS; do
  dfs_up "$d" 2
  m0=${MNT[0]} m1=${MNT[1]}
  mkdir -p "$m0/kb"
  if [[ -n $PROBE_BENCH ]]; then
    mkdir -p "$m0/probe"
    "$PROBE_BENCH" "$m0/probe" "$PROBE_ROUNDS" 250 | sed "s/^/PROBE fs=moosefs-${d}ms /"
  fi
  rounds "moosefs-${d}ms" "$m0/kb" "$m1/kb"
  dfs_down
done

# The summary, from the RUN lines above.
python3 - "$OUT" <<'EOF'
import json, re, statistics, sys
runs = {}
for line in open(sys.argv[1]):
    m = re.match(r"RUN fs=(\S+) round=\d+ load=\S+ (\{.*\})$", line.strip())
    if not m:
        continue
    runs_ = json.loads(m.group(2))["runs"]
    if not runs_:
        continue
    j = runs_[0]
    key = (m.group(1), f"{j['backend']} {j['mode']}")
    runs.setdefault(key, []).append(j)
    if j["load_failures"]:
        print(f"!! load failures: {key}")
for d in dict.fromkeys(k[0] for k in runs):
    print(f"\n-- {d}: median GB/s (runs)")
    row = {c: v for (dd, c), v in runs.items() if dd == d}
    autos = row.get("auto auto", [])
    for op in ("store", "load"):
        med = {c: statistics.median(r[f"{op}_GBps"] for r in v) for c, v in row.items()}
        best = max(v for c, v in med.items() if c != "auto auto")
        cells = "  ".join(f"{c}: {v:.3f} ({len(row[c])})" for c, v in med.items())
        if op == "store":
            n = sum(1 for a in autos if a.get("store_direct"))
            chose = f"direct in {n} of {len(autos)} opens"
        else:
            picks = {f"{a.get('backend_effective')} {'direct' if a.get('load_direct') else 'buffered'}" for a in autos}
            chose = ", ".join(sorted(picks))
        print(f"{op}: {cells}")
        print(f"{op}: auto / best explicit = {med.get('auto auto', 0) / best:.2f}  (auto: {chose})")
        # Pooled by what ran (stores: direct or buffered, whatever the
        # backend; loads: backend and direct), since cells running the same
        # code differ by more than 10% on a loaded machine.
        def what(r):
            if op == "store":
                return "direct" if r["store_direct"] else "buffered"
            return f"{r['backend_effective']} {'direct' if r['load_direct'] else 'buffered'}"
        pool = {}
        for c, v in row.items():
            for r in v:
                pool.setdefault(what(r), []).append(r[f"{op}_GBps"])
        pmed = {w: statistics.median(v) for w, v in pool.items()}
        picks = {what(a) for a in autos}
        ratio = min(pmed[w] for w in picks) / max(pmed.values())
        cells = "  ".join(f"{w}: {v:.3f} ({len(pool[w])})" for w, v in pmed.items())
        print(f"{op} pooled: {cells}  auto's pick(s) {sorted(picks)} / best = {ratio:.2f}")
EOF
