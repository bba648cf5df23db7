"""Where a tier's CPU goes under concurrent loads: one tier (kvtier or the
built-in fs tier), a 50,000-token prefix stored once, then N rounds of 20
concurrent requests loading it. Prints GB/s and CPU seconds per GB, and
"ready" before the rounds start so a profiler can attach then:

  python bench/vllm_load_cpu.py kvtier --rounds 40 --dir /dev/shm/kvprof &
  # after it prints "ready":  perf record -F 1999 -p <pid> -- sleep 6
  perf report --sort dso --no-children
"""

from __future__ import annotations

import argparse
import mmap
import os
import shutil
import time

import numpy as np
from vllm.v1.kv_offload.base import ReqContext, make_offload_key
from vllm.v1.kv_offload.tiering.base import TransferJob
from vllm_tier_vs_builtin import MODELS, cpu_seconds, enable_builtin_c_helper, make_tier, run_jobs


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("tier", choices=["kvtier", "builtin"])
    p.add_argument("--dir", default="/dev/shm/kvtier-load-cpu")
    p.add_argument("--model", choices=sorted(MODELS), default="llama-3.3-70b-tp8")
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--threads", type=int, default=16)
    p.add_argument("--concurrency", type=int, default=20)
    args = p.parse_args()
    if args.tier == "builtin" and not enable_builtin_c_helper():
        raise SystemExit("vllm.fs_io_C could not be loaded")
    chunk, n = MODELS[args.model], -(-50000 // 256)
    buf = mmap.mmap(-1, n * chunk)  # page-aligned, like vLLM's SharedOffloadRegion
    arr = np.frombuffer(buf, dtype=np.uint8).reshape(n, chunk)
    arr[:] = np.random.default_rng(0).integers(0, 255, size=arr.shape, dtype=np.uint8)
    root = os.path.join(args.dir, args.tier)
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(root)
    tier = make_tier(args.tier, root, memoryview(arr), chunk, args.threads, {})
    keys = [make_offload_key(i.to_bytes(32, "big"), 0) for i in range(n)]
    ctx, ids = ReqContext("cpu"), np.arange(n, dtype=np.int32)
    jid = iter(range(1, 1 << 30))
    run_jobs(tier, [TransferJob(next(jid), keys, ids, False, ctx)], load=False)
    print("ready", flush=True)
    c0, t0 = cpu_seconds(), time.perf_counter()
    for _ in range(args.rounds):
        shares = np.array_split(ids, args.concurrency)
        jobs = [TransferJob(next(jid), [keys[i] for i in s], s, True, ctx) for s in shares]
        run_jobs(tier, jobs, load=True)
    gb = args.rounds * n * chunk / 1e9
    secs = time.perf_counter() - t0
    print(f"{args.tier}: {gb / secs:.2f} GB/s, {(cpu_seconds() - c0) / gb:.3f} CPU s/GB")
    tier.shutdown()
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
