#!/usr/bin/env bash
# Set-up command 2: install, build and run every test: C++ unit tests (plain,
# under ASan+UBSan and under ThreadSanitizer), fuzzing, formatting and lint
# checks, then the Python tests and the system tests (several nodes on a
# MooseFS cluster that tools/dfs.sh brings up and down; skipped with the
# reason printed where FUSE or netns are missing).
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/setup.sh
JOBS="${JOBS:-2}"

echo "== build (release) and unit tests"
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
ninja -C build/release
ctest --test-dir build/release -j"$JOBS" --output-on-failure

echo "== format tests with xxhash compiled in (as on hosts without Debian's packages)"
cmake -S . -B build/inline-xxh -G Ninja -DCMAKE_BUILD_TYPE=Release -DKVTIER_BUILD_TOOLS=OFF \
  -DCMAKE_DISABLE_FIND_PACKAGE_PkgConfig=TRUE -DKVTIER_THIRD_PARTY_INCLUDE=/usr/include >/dev/null
ninja -C build/inline-xxh format_test
ctest --test-dir build/inline-xxh -R '^(HashTest|ChunkFormat)' --no-tests=error --output-on-failure

echo "== unit tests under AddressSanitizer + UndefinedBehaviorSanitizer"
cmake -S . -B build/asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DKVTIER_SANITIZE=ON >/dev/null
ninja -C build/asan
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build/asan -j"$JOBS" --output-on-failure

echo "== unit tests under ThreadSanitizer (clang; -Werror=thread-safety checks the lock annotations)"
CC=clang-14 CXX=clang++-14 cmake -S . -B build/tsan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DKVTIER_TSAN=ON >/dev/null
ninja -C build/tsan
# Two evictor tests bound reaction times in wall-clock terms (back under the
# high mark within 500 ms; >50 evictions in a 1.5 s window), which TSan's
# slowdown on two busy cores does not meet (both pass under TSan alone); they
# run in the plain and ASan stages.
TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
  ctest --test-dir build/tsan -j"$JOBS" --output-on-failure \
  -E 'EvictorWatermarks.TmpfsWithConcurrentWriter|EvictorWithStore.ReadersSeeExactDataOrMiss'

echo "== fuzzing (libFuzzer under ASan+UBSan): each target 60 s, two at a time"
fuzz/run.sh

echo "== format and lint"
tools/lint.sh build/release

echo "== deploy/ manifests and alert rules (kustomize, kubernetes-validate, promtool)"
tools/check_deploy.sh

echo "== shipped wheel and images: manylinux_2_28 wheel + binaries, installed where liburing/libxxhash/libssl are absent; hadolint"
tools/test_wheel.sh

echo "== Python package and tests"
"$KVTIER_PY" -m pip install -q --no-build-isolation .
"$KVTIER_PY" -m ruff check python tests bench
KVTIER_CLI="$PWD/build/release/src/cli/kvtier" "$KVTIER_PY" -m pytest -q -rs tests/python tests/system
