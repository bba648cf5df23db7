#!/usr/bin/env bash
# CI stage for what kvtier ships to machines without a compiler: builds the
# manylinux wheel and the binaries (tools/build_wheel.sh), shows the wheel's
# tag with `auditwheel show`, then, in a mount namespace where every
# liburing, libxxhash, libcrypto and libssl shared object on this machine is
# an empty file (loading one fails), installs the wheel into a fresh virtual
# environment and runs a store round trip with io_uring and checksums, and
# runs the vLLM tier's factory test with the wheel's kvtier first on the path
# (in the test venv, which has vLLM). Lints the Dockerfiles that copy these
# artifacts with hadolint and checks that what they COPY was built.
# Needs root (unshare -m, bind mounts; they vanish with the namespace).
set -euo pipefail
cd "$(dirname "$0")/.."
py="${KVTIER_PY:-python3}"
bindir="$(cd "$(dirname "$py")" && pwd)"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
out="$tmp/dist"

# The test venv's Python (vLLM's tests) and a 3.12 for the image's cp312 wheel.
py312=""
for c in "$(pyenv root 2>/dev/null || echo /nonexistent)"/versions/3.12*/bin/python3.12 python3.12; do
  if "$c" -V >/dev/null 2>&1; then py312="$c"; break; fi  # a pyenv shim may fail
done
pythons="$py $py312"
KVTIER_WHEEL_PYTHONS="$pythons" tools/build_wheel.sh "$out"
whl=$(ls "$out"/kvtier-*-"$("$py" -c 'import sys; print("cp%d%d" % sys.version_info[:2])')"-*.whl)
for w in "$out"/*.whl; do "$bindir/auditwheel" show "$w"; done

"$bindir/hadolint" deploy/images/*/Dockerfile
# Every COPY source of the images must be something the build made.
for df in deploy/images/*/Dockerfile; do
  ctx="$out"
  [ "$(basename "$(dirname "$df")")" = evictor ] && ctx="$out/bin"
  for src in $(sed -n 's/^COPY \(.*\) [^ ]*$/\1/p' "$df"); do
    # shellcheck disable=SC2086
    ls "$ctx"/$src >/dev/null || { echo "wheel: $df copies $src, not built" >&2; exit 1; }
  done
done

# without_libs "NAME..." CMD...: runs CMD in a mount namespace where every
# shared object NAME*.so* of this machine is an empty file (loading fails).
without_libs() {
  local names="$1" hidden="" n
  shift
  for n in $names; do hidden+=" $(echo /usr/lib/x86_64-linux-gnu/"$n"*.so*)"; done
  # shellcheck disable=SC2016
  unshare -m --propagation private bash -c '
    for f in $1; do mount --bind /dev/null "$f"; done
    for f in $1; do
      if "$0" -c "import ctypes, sys; ctypes.CDLL(sys.argv[1])" "${f##*/}" 2>/dev/null; then
        echo "wheel: ${f##*/} still loads" >&2; exit 1
      fi
    done
    shift
    exec "$@"' "$py" "$hidden" "$@"
}

for p in $pythons; do
  echo "wheel: round trip on $("$p" -V) in a fresh venv without liburing/libxxhash/libcrypto/libssl"
  rm -rf "$tmp/venv" "$tmp/root" && mkdir "$tmp/root"
  "$p" -m venv "$tmp/venv"
  # pip picks the wheel this Python accepts (cp311 or cp312).
  "$tmp/venv/bin/python" -m pip install -q --no-index --no-deps --find-links "$out" kvtier
  without_libs "liburing libxxhash libcrypto libssl" "$tmp/venv/bin/python" - "$tmp/venv" "$tmp/root" <<'PY'
import sys

import kvtier

venv, root = sys.argv[1:]
assert kvtier.__file__.startswith(venv), kvtier.__file__
payload = bytes(range(256)) * 4096  # 1 MiB
with kvtier.Store(root, {"model": "wheel/check", "kv_dtype": "bf16"}, io_backend="io_uring") as s:
    assert s.io_backend == "io_uring", s.io_backend  # liburing is inside the wheel
    assert s.put(b"k" * 32, payload)
    out = bytearray(len(payload))
    assert s.get(b"k" * 32, out) and bytes(out) == payload
    assert not s.get(b"x" * 32, bytearray(len(payload)))
print("wheel: store round trip ok,", kvtier.__file__)
PY
done

echo "wheel: the vLLM tier's factory test on the wheel's kvtier (test venv's vLLM)"
"$py" -m pip install -q --no-deps --target "$tmp/site" "$whl"
# libcrypto/libssl stay visible here: this interpreter's own ssl module, which
# vLLM imports, needs them; the extension's NEEDED list was checked by
# build_wheel.sh and the round trip above ran without them.
PYTHONPATH="$tmp/site" without_libs "liburing libxxhash" "$py" - "$tmp/site" <<'PY'
import sys

import kvtier
import pytest

site = sys.argv[1]
assert kvtier.__file__.startswith(site), kvtier.__file__
sys.exit(pytest.main(["-q", "-p", "no:cacheprovider",
                      "tests/python/test_vllm_tier.py::test_factory_loads_the_tier_by_module_path"]))
PY
echo "wheel: built, installed without compilers' libraries, round trip and factory test pass"
