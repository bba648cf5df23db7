#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, whole tree under ASan+UBSan with
# coverage) and runs each for FUZZ_SECONDS (default 60), two at a time.
# Exits non-zero on any finding (crash, sanitizer report, leak, a failed
# property check, a 10 s timeout, 2 GiB of memory); the input is kept under
# BUILD/artifacts/. Each run starts from fuzz/corpus/<target>/ plus seeds made
# afresh by make_fuzz_seeds (so they follow the chunk format as built), and
# prints executions and coverage (libFuzzer's cov: edges, ft: features).
#
#   fuzz/run.sh                 build, then fuzz every target
#   fuzz/run.sh --seeds-only    rewrite fuzz/corpus/ from make_fuzz_seeds
#   FUZZ_TARGETS="inspect" FUZZ_SECONDS=600 fuzz/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."
build="${FUZZ_BUILD:-build/fuzz}"
secs="${FUZZ_SECONDS:-60}"
targets=(${FUZZ_TARGETS:-chunk_header fingerprint layout_rules inspect})
declare -A max_len=([chunk_header]=8192 [fingerprint]=8192 [layout_rules]=1024 [inspect]=24576)

CC="${FUZZ_CC:-clang-14}" CXX="${FUZZ_CXX:-clang++-14}" cmake -S . -B "$build" -G Ninja \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKVTIER_FUZZ=ON -DKVTIER_BUILD_TESTS=OFF >/dev/null
ninja -C "$build" -j"${JOBS:-2}" make_fuzz_seeds "${targets[@]/%/_fuzzer}"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$build/fuzz/make_fuzz_seeds" "$work/seeds"
if [ "${1:-}" = "--seeds-only" ]; then
  rm -rf fuzz/corpus
  cp -r "$work/seeds" fuzz/corpus
  echo "fuzz: wrote fuzz/corpus/ ($(find fuzz/corpus -type f | wc -l) files)"
  exit 0
fi

artifacts="$build/artifacts"
mkdir -p "$artifacts"
fuzz_one() {
  local t="$1"
  mkdir -p "$work/corpus/$t"
  # New inputs go to the first directory (a scratch one), never to fuzz/.
  "$build/fuzz/${t}_fuzzer" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
    -max_len="${max_len[$t]}" -print_final_stats=1 -artifact_prefix="$artifacts/$t-" \
    "$work/corpus/$t" "fuzz/corpus/$t" "$work/seeds/$t" >"$work/$t.log" 2>&1
}

failed=0
for ((i = 0; i < ${#targets[@]}; i += 2)); do
  pids=()
  for t in "${targets[@]:i:2}"; do
    fuzz_one "$t" &
    pids+=("$!")
  done
  for j in "${!pids[@]}"; do
    t="${targets[$((i + j))]}"
    if wait "${pids[$j]}"; then
      execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$t.log")
      last=$(grep -E '^#[0-9]+' "$work/$t.log" | tail -1 | grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+' || true)
      echo "fuzz: $t: ${execs:-?} executions in ${secs} s, ${last:-no coverage line}"
    else
      failed=1
      echo "fuzz: $t FAILED; its log ends:" >&2
      tail -40 "$work/$t.log" >&2
      ls -1 "$artifacts/$t-"* 2>/dev/null | sed 's/^/fuzz: input kept: /' >&2 || true
    fi
  done
done
exit "$failed"
