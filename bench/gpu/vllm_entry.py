"""Runs bench/vllm_tier_vs_builtin.py where only vLLM's Python files are
present (the GPU host; see bench/gpu/vllm_bench.sh).

On a machine with a GPU vLLM selects its CUDA platform, whose module loads
vLLM's compiled kernels: those are not carried (hundreds of MiB, built for
another torch). Neither tier's file I/O uses the platform, so it is pinned to
vLLM's UnspecifiedPlatform, the one vLLM itself picks on a CPU-only machine
such as the one the benchmark runs on in CI.
"""

import os
import runpy
import sys

import vllm.platforms
from vllm.platforms.interface import UnspecifiedPlatform

vllm.platforms._current_platform = UnspecifiedPlatform()
vllm.platforms.current_platform = vllm.platforms._current_platform

bench = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "vllm_tier_vs_builtin.py")
sys.argv = [bench, *sys.argv[1:]]
runpy.run_path(bench, run_name="__main__")
