#!/usr/bin/env bash
# Evictor overshoot on a filesystem that reports freed space late: MooseFS
# with chunkservers on small disks of their own (tools/dfs.sh --cs-space), so
# statvfs shows an unlink's space only about 13 minutes later. Fills the
# cache through mount 0 to FILL with CHUNK-sized chunks (kvtier.Store), then
# runs kvtier-evictor on mount 2 (high HIGH, low LOW, a tick every POLL, no
# minimum age, --free-lag LAG) for RUN_S seconds, printing statvfs and the
# bytes left every 30 s; then stops it (SIGTERM, by PID) and reports the
# bytes it deleted against the bytes that had to go to reach LOW.
#
#   bash bench/dfs_free_lag.sh STATE_DIR LAG     # LAG: 0 (off) or e.g. 15m
#
# Environment: FILL (0.90), HIGH (0.85), LOW (0.70), CHUNK (4M), CS_SPACE
# (1G per chunkserver, 2 of them: MooseFS puts a new chunk only where 64 MiB
# are free), RUN_S (1020), POLL (10s), EVICTOR
# (build/release/src/evictor/kvtier-evictor), PY (the project's venv).
# Takes RUN_S plus about a minute; two runs with different STATE_DIRs may
# go at once (each cluster has its own slot).
set -euo pipefail
cd "$(dirname "$0")/.."
state=${1:?usage: bench/dfs_free_lag.sh STATE_DIR LAG}
lag=${2:?usage: bench/dfs_free_lag.sh STATE_DIR LAG}
FILL=${FILL:-0.90}
HIGH=${HIGH:-0.85}
LOW=${LOW:-0.70}
CHUNK=${CHUNK:-4M}
CS_SPACE=${CS_SPACE:-1G}
RUN_S=${RUN_S:-1020}
POLL=${POLL:-10s}
EVICTOR=${EVICTOR:-build/release/src/evictor/kvtier-evictor}
PY=${PY:-$HOME/.cache/kvtier/venv/bin/python}
[[ -x $EVICTOR ]] || { echo "build $EVICTOR first (or set EVICTOR)" >&2; exit 1; }

ev_pid=""
stop_evictor() {
  [[ -n $ev_pid ]] || return 0
  kill -TERM "$ev_pid" 2>/dev/null || true
  wait "$ev_pid" 2>/dev/null || true
  ev_pid=""
}
trap 'stop_evictor; tools/dfs.sh down "$state" >/dev/null' EXIT
trap 'exit 130' INT TERM
tools/dfs.sh up "$state" --mounts 3 --cs-space "$CS_SPACE" >/dev/null
# shellcheck disable=SC1091
. "$state/env"
read -r m0 _ m2 <<<"$DFS_MOUNTS"

# statvfs on mount 2: "used total" in bytes.
usage() { stat -f -c '%S %b %a' "$m2" | awk '{ printf "%.0f %.0f", ($2 - $3) * $1, $2 * $1 }'; }
# Bytes of chunk files under the cache root (their lengths), and how many.
chunk_bytes() { find "$m2/cache" -name '*.kv' -printf '%s\n' | awk '{ s += $1; n++ } END { printf "%.0f %d", s, n }'; }

echo "== dfs_free_lag: lag $lag, fill $FILL, marks $HIGH/$LOW, chunks $CHUNK, 2 chunkservers x $CS_SPACE, $(date -u +%Y-%m-%dT%H:%MZ), load $(cut -d' ' -f1-3 /proc/loadavg)"
"$PY" - "$m0/cache" "$CHUNK" "$FILL" <<'EOF'
import os, sys, time
import numpy as np
import kvtier
root, chunk, fill = sys.argv[1], sys.argv[2], float(sys.argv[3])
size = int(chunk.rstrip("M")) << 20
os.makedirs(root, exist_ok=True)
rng = np.random.default_rng(1)
with kvtier.Store(root, {"model": "bench/free-lag"}) as s:
    i = 0
    while True:
        st = os.statvfs(root)
        used = (st.f_blocks - st.f_bavail) / st.f_blocks
        if used >= fill:
            break
        if used >= fill - 0.05:
            time.sleep(1.5)  # the chunkservers report their space about once a second
        assert s.put(f"chunk-{i}".encode(), rng.integers(0, 255, size, dtype=np.uint8)), i
        i += 1
print(f"filled: {i} chunks")
EOF
sleep 5
read -r used0 total <<<"$(usage)"
read -r bytes0 files0 <<<"$(chunk_bytes)"
needed=$(awk -v u="$used0" -v t="$total" -v l="$LOW" 'BEGIN { printf "%.0f", u - l * t }')
echo "start: statvfs used $used0 of $total ($(awk -v u="$used0" -v t="$total" 'BEGIN { printf "%.3f", u / t }')), $files0 chunk files, $bytes0 bytes; needed to reach $LOW: $needed"

"$EVICTOR" "$m2/cache" --high "$HIGH" --low "$LOW" --poll-interval "$POLL" --min-age 0 \
  --max-delete-rate 0 --free-lag "$lag" --port 0 --log-level info >"$state/log/evictor.log" 2>&1 &
ev_pid=$!
t0=$SECONDS
while ((SECONDS - t0 < RUN_S)); do
  sleep 30
  kill -0 "$ev_pid" 2>/dev/null || { echo "evictor exited early:"; tail -5 "$state/log/evictor.log"; exit 1; }
  read -r used _ <<<"$(usage)"
  read -r bytes files <<<"$(chunk_bytes)"
  echo "t=$((SECONDS - t0)) s: statvfs used $used ($(awk -v u="$used" -v t="$total" 'BEGIN { printf "%.3f", u / t }')), chunk files $files, deleted $((bytes0 - bytes)) bytes"
done
stop_evictor
read -r used _ <<<"$(usage)"
read -r bytes files <<<"$(chunk_bytes)"
deleted=$((bytes0 - bytes))
echo "end after $((SECONDS - t0)) s: statvfs used $used ($(awk -v u="$used" -v t="$total" 'BEGIN { printf "%.3f", u / t }')), $files chunk files left of $files0"
echo "RESULT lag=$lag needed=$needed deleted=$deleted ratio=$(awk -v d="$deleted" -v n="$needed" 'BEGIN { printf "%.2f", d / n }') statvfs_freed=$((used0 - used))"
