#!/usr/bin/env bash
# Gathers, on a machine with the package registries, what the bench/gpu
# scripts need on the GPU host, which has none. Each set goes to its own
# git-ignored folder, carried by the device call that needs it:
#
#   .gpu-deps/       build tools (wheels) and the header-only dependencies
#                    (xxhash, nlohmann-json, CLI11, OpenSSL's headers; a
#                    libcrypto.so.3 for a host without one): run.sh, store_bench.sh
#   .gpu-deps-vllm/  with VLLM=1: vLLM 0.33.0's Python files that the tier
#                    benchmark imports, and cp312 wheels of the packages that
#                    import needs (bench/gpu/vllm-bench-reqs.txt): vllm_bench.sh
#   .gpu-deps-fio/   with FIO_SRC=DIR (a git clone of fio, github.com/axboe/fio):
#                    its source at HEAD, built on the host by store_bench.sh
#
# VLLM=1 needs the test venv made by tools/setup.sh (vllm 0.33.0 and kvtier
# installed), or VLLM_PYTHON pointing at another such interpreter.
set -euo pipefail
cd "$(dirname "$0")/../.."
rm -rf .gpu-deps && mkdir -p .gpu-deps/wheels .gpu-deps/include
python3 -m pip download -q --no-deps -d .gpu-deps/wheels \
  nanobind==3.1.0 scikit-build-core==1.1.2 pathspec packaging
# shellcheck source=bench/gpu/prepare_lib.sh
source bench/gpu/prepare_lib.sh
build_headers .gpu-deps/include
# Debian's libcrypto for a host without one.
mkdir -p .gpu-deps/lib && cp /usr/lib/x86_64-linux-gnu/libcrypto.so.3 .gpu-deps/lib/

if [[ "${VLLM:-0}" == 1 ]]; then
  py=${VLLM_PYTHON:-$HOME/.cache/kvtier/venv/bin/python}
  rm -rf .gpu-deps-vllm && mkdir -p .gpu-deps-vllm/wheels
  host_wheels .gpu-deps-vllm/wheels -r bench/gpu/vllm-bench-reqs.txt
  vllm_trim "$py" .gpu-deps-vllm/vllm-trim.tar.gz
fi

if [[ -n "${FIO_SRC:-}" ]]; then
  rm -rf .gpu-deps-fio && mkdir -p .gpu-deps-fio
  git -C "$FIO_SRC" archive --format=tar.gz -o "$PWD/.gpu-deps-fio/fio-src.tar.gz" HEAD
fi
du -sh .gpu-deps*
