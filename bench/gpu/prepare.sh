#!/usr/bin/env bash
# Gathers what bench/gpu/run.sh needs on a host with no package registry:
# wheels of the Python build tools and the two header-only dependencies.
set -euo pipefail
cd "$(dirname "$0")/../.."
rm -rf .gpu-deps && mkdir -p .gpu-deps/wheels .gpu-deps/include
python3 -m pip download -q --no-deps -d .gpu-deps/wheels \
  nanobind==3.1.0 scikit-build-core==1.1.2 pathspec packaging
cp /usr/include/xxhash.h /usr/include/xxh3.h .gpu-deps/include/
cp -r /usr/include/nlohmann .gpu-deps/include/
