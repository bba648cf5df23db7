# Sourced by bench/gpu/prepare.sh and dfs_prepare.sh (here, on a Debian 12
# machine with its package registries): what both gather for the GPU host.
# Run from the repository root.

# build_headers DEST: kvtier's header-only build dependencies (xxhash,
# nlohmann-json, CLI11) and OpenSSL's headers (CMakeLists.txt links the
# host's own libcrypto.so.3 with them) into DEST.
build_headers() {
  mkdir -p "$1/openssl"
  cp /usr/include/xxhash.h /usr/include/xxh3.h "$1/"
  cp -r /usr/include/nlohmann /usr/include/CLI "$1/"
  cp -r /usr/include/openssl "$1/"
  cp /usr/include/x86_64-linux-gnu/openssl/*.h "$1/openssl/"
}

# host_wheels DEST ARGS...: `pip download` of binary wheels for the host's
# python3 (CPython 3.12, x86_64, any manylinux tag its glibc accepts) into
# DEST; ARGS are requirements or -r FILE.
host_wheels() {
  local dest=$1 platforms=() p
  shift
  for p in manylinux_2_34 manylinux_2_31 manylinux_2_28 manylinux_2_27 manylinux_2_26 \
    manylinux_2_24 manylinux_2_17 manylinux2014 manylinux_2_5 manylinux1; do
    platforms+=(--platform "${p}_x86_64")
  done
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    "${platforms[@]}" --platform any -d "$dest" "$@"
}

# vllm_trim PYTHON TARBALL: only the vLLM files the tier benchmark imports
# (a few MiB, not 50; listed by bench/gpu/vllm_files.py under PYTHON, the
# test venv's interpreter with vllm 0.33.0), as a tarball of site-packages
# paths.
vllm_trim() {
  local list site
  list=$(mktemp)
  "$1" bench/gpu/vllm_files.py "$list" >/dev/null
  site=$("$1" -c 'import os, vllm; print(os.path.dirname(os.path.dirname(vllm.__file__)))')
  tar -C "$site" -czf "$2" -T "$list"
  rm -f "$list"
}
