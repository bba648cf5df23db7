#!/usr/bin/env bash
# One device call: build kvtier for the GPU host's python3 from this tree
# (build tools and the xxhash / nlohmann-json headers travel in .gpu-deps/,
# made by bench/gpu/prepare.sh, since that host has no package registry),
# then run the seed reproduction. Results go to $OUT.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/kvtier-gpu-out}
mkdir -p "$OUT"
python3 -m pip install -q --no-index --find-links .gpu-deps/wheels nanobind scikit-build-core
SKBUILD_CMAKE_DEFINE="KVTIER_THIRD_PARTY_INCLUDE=$PWD/.gpu-deps/include" \
  python3 -m pip install -q --no-build-isolation --no-deps --no-index .
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$OUT/gpu.txt"
python3 bench/gpu/seed_repro.py --out "$OUT/seed_repro.json" "$@"
