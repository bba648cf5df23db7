#!/usr/bin/env bash
# Set-up command 1: install, build, and run the main job on the embedded
# default (a temporary local directory): `kvtier bench` for both I/O
# backends, direct and buffered, with fio and memcpy side by side.
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/setup.sh
cmake -S . -B build/demo -G Ninja -DCMAKE_BUILD_TYPE=Release -DKVTIER_BUILD_TESTS=OFF >/dev/null
ninja -C build/demo
./build/demo/src/cli/kvtier bench --size 8M --count 64 --threads 4 "$@"
