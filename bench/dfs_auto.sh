#!/usr/bin/env bash
# `auto` against every explicit I/O choice on MooseFS, interleaved so that a
# drift in the machine's load hits every choice alike: at each of DELAYS
# (ms per direction) one cluster (tools/dfs.sh, 2 mounts), then ROUNDS
# rounds, each running `kvtier bench --repeat 1` once per choice, in an order
# rotated every round (A B C D E, B C D E A, ...). Chunks are stored through
# mount 0 and loaded through mount 1 (--load-dir: another node, cold client
# caches). Prints the raw runs, then per delay the median store and load
# GB/s per choice and auto / best explicit.
#
#   bash bench/dfs_auto.sh [RESULTS_FILE]
#
# Environment: DELAYS ("0 0.5 2"), ROUNDS (5), SIZE (8M), COUNT (64),
# THREADS (4), KVTIER (build/release/src/cli/kvtier). Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
DELAYS=${DELAYS:-"0 0.5 2"}
ROUNDS=${ROUNDS:-5}
SIZE=${SIZE:-8M}
COUNT=${COUNT:-64}
THREADS=${THREADS:-4}
KVTIER=${KVTIER:-build/release/src/cli/kvtier}
OUT=${1:-bench/results/dfs-auto-$(date -u +%Y%m%d-%H%M).txt}
[[ -x $KVTIER ]] || { echo "build $KVTIER first (or set KVTIER)" >&2; exit 1; }
bash tools/dfs.sh check >/dev/null || { bash tools/dfs.sh check; exit 3; }

work=$(mktemp -d "${TMPDIR:-/tmp}/kvtier-dfs-auto.XXXXXX")
cluster=$work/cluster
trap 'bash tools/dfs.sh down "$cluster" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM
mkdir -p "$(dirname "$OUT")"
exec > >(tee "$OUT") 2>&1

choices=("auto auto" "threadpool direct" "threadpool buffered" "io_uring direct" "io_uring buffered")
echo "== dfs_auto: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD)"
echo "== $COUNT x $SIZE chunks, $THREADS threads, stored via mount 0, loaded via mount 1, $ROUNDS rounds"
for d in $DELAYS; do
  bash tools/dfs.sh up "$cluster" --mounts 2 --delay-ms "$d" >"$work/env"
  # shellcheck disable=SC1091
  source "$work/env"
  read -r m0 m1 <<<"$DFS_MOUNTS"
  mkdir -p "$m0/kb"
  for ((r = 0; r < ROUNDS; r++)); do
    for ((i = 0; i < ${#choices[@]}; i++)); do
      read -r backend mode <<<"${choices[(i + r) % ${#choices[@]}]}"
      json=$("$KVTIER" bench --dir "$m0/kb" --load-dir "$m1/kb" --size "$SIZE" --count "$COUNT" \
        --threads "$THREADS" --repeat 1 --no-fio --json --backends "$backend" --modes "$mode" ||
        echo '{"runs": []}')
      echo "RUN delay=$d round=$r load=$(cut -d' ' -f1 /proc/loadavg) $(echo "$json" | tr -d ' \n')"
    done
  done
  bash tools/dfs.sh down "$cluster" >/dev/null
done

# The summary, from the RUN lines above.
python3 - "$OUT" <<'EOF'
import json, re, statistics, sys
runs = {}
for line in open(sys.argv[1]):
    m = re.match(r"RUN delay=(\S+) round=\d+ load=\S+ (\{.*\})$", line.strip())
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
    print(f"\n-- {d} ms per direction: median GB/s (runs)")
    row = {c: v for (dd, c), v in runs.items() if dd == d}
    for op in ("store", "load"):
        med = {c: statistics.median(r[f"{op}_GBps"] for r in v) for c, v in row.items()}
        best = max(v for c, v in med.items() if c != "auto auto")
        cells = "  ".join(f"{c}: {v:.3f} ({len(row[c])})" for c, v in med.items())
        a = row.get("auto auto", [{}])[0]
        chose = f"loads {a.get('backend_effective')} {'direct' if a.get('load_direct') else 'buffered'}, stores {'direct' if a.get('store_direct') else 'buffered'}"
        print(f"{op}: {cells}")
        print(f"{op}: auto / best explicit = {med.get('auto auto', 0) / best:.2f}  (auto chose {chose})")
EOF
