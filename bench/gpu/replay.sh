#!/usr/bin/env bash
# One device call (two GPUs): build kvtier for the host's python3, then
# replay the seed's workload, scaled down, with one engine process per GPU
# (bench/gpu/replay.py). Results (replay.json, replay.txt, the log) go to $OUT.
#
# Here, first: `bash bench/gpu/prepare.sh` (build tools and headers; the GPU
# host has no package registry), then `git archive -o .gpu-deps/kvtier-src.tar.gz
# HEAD` to build the committed library rather than a tree with edits in
# progress (without that archive the working tree is built).
#
#   OUT=dir bash bench/gpu/replay.sh [replay.py options]
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/kvtier-replay-out}
mkdir -p "$OUT"
src=$PWD
if [[ -f .gpu-deps/kvtier-src.tar.gz ]]; then
  src=$(mktemp -d)
  trap 'rm -rf "$src"' EXIT
  tar -xzf .gpu-deps/kvtier-src.tar.gz -C "$src"
fi
python3 -m pip install -q --no-index --find-links .gpu-deps/wheels nanobind scikit-build-core
t=$(date +%s)
CMAKE_BUILD_PARALLEL_LEVEL=$(nproc) SKBUILD_CMAKE_DEFINE="KVTIER_THIRD_PARTY_INCLUDE=$PWD/.gpu-deps/include" \
  python3 -m pip install -q --no-build-isolation --no-deps --no-index "$src"
{
  echo "kvtier build: $(($(date +%s) - t)) s"
  nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv,noheader
  echo "cores: $(nproc)"
  python3 -c 'import torch, transformers; print("torch", torch.__version__, "transformers", transformers.__version__)'
  df -hT /dev/shm /var/tmp | tail -n +2
} | tee "$OUT/host.txt"
PYTHONUNBUFFERED=1 python3 bench/gpu/replay.py --out "$OUT" "$@" 2>&1 | tee "$OUT/replay.log"
