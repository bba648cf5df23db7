#!/usr/bin/env bash
# Gathers here (a Debian 12 machine with its package registry) what
# bench/gpu/dfs_bench.sh needs on the GPU host, which has no registry and no
# network, into the git-ignored folder .gpu-deps-dfs/ (the device call
# carries it; about 30 MiB):
#
#   debs/      Debian 12's moosefs-{master,chunkserver,client,cli,common},
#              fuse3, libfuse3-3 and iproute2 (`apt-get download`), plus the
#              packages of every library their programs link beyond glibc
#              (found with ldd here): unpacked on the host by dfs_root.sh
#   include/   header-only build dependencies (xxhash, nlohmann-json, CLI11,
#              OpenSSL's headers; the host has libcrypto.so.3 but no -dev)
#   uring/     liburing's headers and static library (the host has none)
#   wheels/    nanobind, for the Python extension's build
#   vllm/      vLLM 0.33.0's Python files that the tier benchmark imports,
#              and cp312 wheels of its imports the host's image lacks
#   sglang/    with SGLANG=1: SGLang 0.5.23's Python files (and the further
#              vLLM files it imports) that bench/sglang_vs_file.py loads, and
#              wheels of its imports the host lacks
#   fio/       fio 3.33's source (Debian 12's version), built on the host
#              when it has no fio: FIO_SRC=DIR names a git clone of fio
#
#   kvtier-src.tar.gz   the source of a commit (`git archive`), which
#              dfs_bench.sh builds and runs, and kvtier-src.commit naming it
#
#   FIO_SRC=path/to/fio.git bash bench/gpu/dfs_prepare.sh [COMMIT]
#   bash bench/gpu/dfs_prepare.sh --snapshot [COMMIT]   # the source only
#   bash bench/gpu/dfs_prepare.sh --base COMMIT         # base-src.tar.gz: a
#              second commit whose CLI dfs_bench.sh's STORE_AB=1 measures
#              beside the snapshot's (after a full run, which empties the
#              folder)
#
# Needs the test venv made by tools/setup.sh (vllm 0.33.0 and kvtier
# installed), or VLLM_PYTHON naming another such interpreter.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=bench/gpu/prepare_lib.sh
source bench/gpu/prepare_lib.sh
deps=.gpu-deps-dfs
py=${VLLM_PYTHON:-$HOME/.cache/kvtier/venv/bin/python}

snapshot() {  # snapshot COMMIT [NAME]
  local commit name=${2:-kvtier-src}
  commit=$(git rev-parse --short=12 "$1")
  git archive --format=tar.gz -o "$deps/$name.tar.gz" "$commit"
  echo "$commit" >"$deps/$name.commit"
  echo "$name: $commit"
}
# (Not `snapshot ... && exit`: errexit is off inside a function called from
# an && list, and a bad COMMIT must fail here, not on the GPU host.)
case ${1:-} in
  --snapshot)
    snapshot "${2:-HEAD}"
    exit 0
    ;;
  --base)
    snapshot "${2:?--base COMMIT}" base-src
    exit 0
    ;;
esac
rm -rf "$deps" && mkdir -p "$deps/debs" "$deps/include" "$deps/uring/include" \
  "$deps/uring/lib" "$deps/wheels" "$deps/vllm/wheels" "$deps/fio"

# ---- the filesystem's packages and the libraries they link ----------------
packages=(moosefs-master moosefs-chunkserver moosefs-client moosefs-cli moosefs-common
  fuse3 libfuse3-3 iproute2)
# apt-get download writes into the current directory, as the _apt user
# where it can (it cannot here: a warning, not an error).
(cd "$deps/debs" && apt-get download -q "${packages[@]}" 2>&1 | grep -v '^W: Download is performed unsandboxed' || true)
unpacked=$(mktemp -d)
trap 'rm -rf "$unpacked"' EXIT
for f in "$deps"/debs/*.deb; do dpkg-deb -x "$f" "$unpacked"; done
# The libraries the programs tools/dfs.sh runs link, beyond those of glibc
# itself, by package (dpkg knows a library by its /usr path: merged /usr).
programs=(usr/sbin/mfsmaster usr/sbin/mfschunkserver usr/bin/mfsmount usr/bin/mfstools bin/ip
  bin/fusermount3)
libpkgs=$(
  for prog in "${programs[@]}"; do ldd "$unpacked/$prog"; done |
    awk '$2 == "=>" && $3 ~ /^\// { print $3 }' | sort -u |
    grep -Ev '/(libc|libm|libpthread|libdl|librt|libresolv)\.so' |
    while read -r lib; do
      dpkg -S "$lib" 2>/dev/null || dpkg -S "/usr$lib" 2>/dev/null || echo "unowned: $lib" >&2
    done | cut -d: -f1 | sort -u
)
for p in $libpkgs; do
  [[ " ${packages[*]} " == *" $p "* ]] || (cd "$deps/debs" && apt-get download -q "$p" 2>&1 |
    grep -v '^W: Download is performed unsandboxed' || true)
done
# apt-get names a file by the URL-quoted version ("1%3a2.66-4"); plain names
# travel more safely.
for f in "$deps"/debs/*%3a*; do [[ ! -e $f ]] || mv "$f" "${f//%3a/_}"; done

# ---- kvtier's build dependencies ------------------------------------------
build_headers "$deps/include"
cp -r /usr/include/liburing.h /usr/include/liburing "$deps/uring/include/"
cp /usr/lib/x86_64-linux-gnu/liburing.a "$deps/uring/lib/"
python3 -m pip download -q --no-deps -d "$deps/wheels" nanobind==3.1.0

# ---- vLLM's files and the wheels the host's image lacks --------------------
# The image already has the others of bench/gpu/vllm-bench-reqs.txt
# (aiohttp, transformers, tokenizers, pillow, ...; the device's package list).
on_host=" aiohappyeyeballs aiohttp aiosignal annotated-doc anyio attrs certifi cloudpickle
  frozenlist h11 huggingface-hub idna multidict packaging pillow prometheus-client propcache
  psutil py-cpuinfo pyyaml regex requests safetensors tokenizers tqdm transformers urllib3
  uvloop yarl "
reqs=$(mktemp)
while read -r line; do
  name=$(echo "${line%%==*}" | tr 'A-Z_' 'a-z-')
  [[ -z $line || $line == \#* || $on_host == *" $name "* ]] || echo "$line"
done <bench/gpu/vllm-bench-reqs.txt >"$reqs"
host_wheels "$deps/vllm/wheels" -r "$reqs"
rm -f "$reqs"
vllm_trim "$py" "$deps/vllm/vllm-trim.tar.gz"

# ---- SGLang's files ----------------------------------------------------------
# Found by running bench/sglang_vs_file.py on a tiny prefix and listing the
# sglang and vllm files it loaded. SGLang's host-pool check counts this
# machine's free memory, which other jobs here use up: for the listing only
# (nothing is measured), the check is told 64 GiB and the reserve is 0.
if [[ ${SGLANG:-0} == 1 ]]; then
  mkdir -p "$deps/sglang/wheels"
  host_wheels "$deps/sglang/wheels" compressed-tensors==0.18.0 \
    gguf==0.19.0 ipython==9.18.1 traitlets==5.16.1 loguru==0.7.3 orjson==3.13.0 dill==0.4.1
  list=$(mktemp)
  tmp=$(mktemp -d)
  "$py" - "$list" "$tmp" >/dev/null <<'PY'
import contextlib, io, os, runpy, sys
sys.path.insert(0, "tests/python")
import sglang_harness  # noqa: F401  (its torchvision stand-in first)
import sglang.srt.mem_cache.pool_host.base as base
base.available_host_memory_bytes = lambda *a, **k: 64 << 30
out, tmp = sys.argv[1], sys.argv[2]
sys.argv = ["bench/sglang_vs_file.py", "--dirs", tmp, "--tokens", "2048", "--layers", "1",
            "--repeats", "1", "--concurrency", "2", "--sglang-reserve-gb", "0"]
with contextlib.redirect_stdout(io.StringIO()):
    runpy.run_path("bench/sglang_vs_file.py", run_name="__main__")
import sglang
site = os.path.dirname(os.path.dirname(sglang.__file__))
files = set()
for m in list(sys.modules.values()):
    p = getattr(m, "__file__", None) or ""
    for pkg in ("sglang", "vllm"):
        if p.startswith(os.path.join(site, pkg) + os.sep):
            files.add(os.path.relpath(p, site))
# Not imported but looked for at import: the JIT kernels' sources (sglang
# refuses to import its memory pool without sglang/kernels/jit/{include,csrc}).
jit = os.path.join(site, "sglang", "kernels", "jit")
for sub in ("include", "csrc"):
    for dirpath, _, names in os.walk(os.path.join(jit, sub)):
        files.update(os.path.relpath(os.path.join(dirpath, n), site) for n in names)
for name in os.listdir(site):
    if name.startswith("sglang-") and name.endswith(".dist-info"):
        files.update(os.path.join(name, f) for f in os.listdir(os.path.join(site, name)))
with open(out, "w") as f:
    f.write("\n".join(sorted(files)) + "\n")
PY
  site=$("$py" -c 'import os, sglang; print(os.path.dirname(os.path.dirname(sglang.__file__)))')
  tar -C "$site" -czf "$deps/sglang/sglang-trim.tar.gz" -T "$list"
  echo "$(wc -l <"$list") sglang and vllm files"
  rm -rf "$list" "$tmp"
fi

# ---- fio ---------------------------------------------------------------------
if [[ -n ${FIO_SRC:-} ]]; then
  git -C "$FIO_SRC" archive --format=tar.gz -o "$PWD/$deps/fio/fio-src.tar.gz" fio-3.33
fi
snapshot "${1:-HEAD}"
ls "$deps/debs"
du -sh "$deps" "$deps"/*
