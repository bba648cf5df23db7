#!/usr/bin/env bash
# One device call: kvtier's vLLM tier vs vLLM's built-in fs tier
# (bench/vllm_tier_vs_builtin.py) on the GPU host's many cores. vLLM cannot be
# installed there (no package registry), so the vllm 0.33.0 files the
# benchmark imports and cp312 wheels of their dependencies travel in
# .gpu-deps-vllm/ (VLLM=1 bash bench/gpu/prepare.sh) and go into a private
# site directory; kvtier is built from this tree. Results go to $OUT.
#
#   OUT=dir bash bench/gpu/vllm_bench.sh [--repeat N] [--model M ...]
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/kvtier-gpu-out}
mkdir -p "$OUT"
site=/tmp/kvtier-vllm-bench-site  # kept between calls on a warm host
if [[ ! -f "$site/.ready" ]]; then
  rm -rf "$site"
  python3 -m pip install -q --no-deps --no-index --target "$site" .gpu-deps-vllm/wheels/*.whl
  tar -xzf .gpu-deps-vllm/vllm-trim.tar.gz -C "$site"
  python3 -m pip install -q --no-index --find-links .gpu-deps/wheels nanobind scikit-build-core
  touch "$site/.ready"
fi
rm -rf "$site/kvtier"*
SKBUILD_CMAKE_DEFINE="KVTIER_THIRD_PARTY_INCLUDE=$PWD/.gpu-deps/include" \
  python3 -m pip install -q --no-build-isolation --no-deps --no-index --target "$site" .
{
  echo "cores: $(nproc)"
  free -g | head -2
  df -hT /dev/shm /var/tmp | tail -n +2
  python3 -c 'import torch, sys; print("python", sys.version.split()[0], "torch", torch.__version__, "cuda", torch.version.cuda)'
} | tee "$OUT/host.txt"
export PYTHONPATH=$site
dirs=(/dev/shm/kvtier-vllm-bench /var/tmp/kvtier-vllm-bench)
tag=$(echo "$*" | tr -c 'a-zA-Z0-9.-' _)
python3 bench/gpu/vllm_entry.py --dirs "${dirs[@]}" "$@" | tee "$OUT/vllm_tier_vs_builtin${tag}.txt"
rm -rf "${dirs[@]}"
