"""Two store targets from the store's issue, measured side by side:

1. lookups: 100,000 existence checks (half hits) through Store.contains, with
   the verdict cache off (every key is an fstatat on warm metadata) and on;
   baseline: os.stat on the same paths from one Python thread.
2. memory under a store flood: a producer offers 8 MiB chunks far faster
   than the directory absorbs them (writes slowed by durable=True on disk);
   peak RSS must stay within baseline + max_queued_write_bytes + one chunk.

  python bench/lookup_and_memory.py --dir /var/tmp/kvtier-lookup
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import time

import numpy as np

import kvtier

FP = {"model": "bench/lookup", "kv_dtype": "bfloat16"}


def rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def lookups(root: str, n: int, threads: int) -> dict:
    present = [b"hit-%08d" % i for i in range(n // 2)]
    absent = [b"miss-%08d" % i for i in range(n - n // 2)]
    keys = [k for pair in zip(present, absent) for k in pair]
    out = {}
    with kvtier.Store(root, FP, read_threads=threads, write_threads=threads) as s:
        small = bytes(4096)
        jid = s.submit_put(present, [small] * len(present))
        assert all(s.wait(jid))
    for cache_s in (0.0, 1.0):
        with kvtier.Store(root, FP, read_threads=threads, lookup_cache_s=cache_s) as s:
            s.contains(keys)  # warm dentries (and the verdict cache when on)
            t = time.perf_counter()
            res = s.contains(keys)
            dt = time.perf_counter() - t
            assert sum(res) == len(present)
            out[f"contains_keys_per_s_cache_{'on' if cache_s else 'off'}"] = len(keys) / dt
    # Baseline: stat of the same number of paths (existing files) in Python.
    files = [os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs][: len(keys)]
    t = time.perf_counter()
    for p in files:
        os.stat(p)
    out["python_os_stat_per_s"] = len(files) / (time.perf_counter() - t)
    return out


def flood(root: str, budget: int, seconds: float) -> dict:
    chunk = 8 << 20
    base = rss_mib()
    offered = 0
    peak = base
    with kvtier.Store(
        root, FP, write_threads=2, durable=True, max_queued_write_bytes=budget
    ) as s:
        t_end = time.perf_counter() + seconds
        while time.perf_counter() < t_end:
            buf = np.full(chunk, offered & 0xFF, dtype=np.uint8)  # a fresh chunk each time
            s.submit_put([b"flood-%d" % offered], [buf])
            del buf
            offered += 1
            s.poll()
            peak = max(peak, rss_mib())
        s.poll()
        st = s.stats()
    return {
        "offered_chunks": offered,
        "offered_GBps": offered * chunk / seconds / 1e9,
        "stored_chunks": int(st["puts_stored_total"]),
        "dropped_chunks": int(st["puts_dropped_total"]),
        "stored_GBps": st["written_bytes_total"] / seconds / 1e9,
        "budget_MiB": budget / 2**20,
        "rss_base_MiB": base,
        "rss_peak_MiB": peak,
        "rss_growth_MiB": peak - base,
        "ru_maxrss_MiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--dir", default="/var/tmp/kvtier-lookup")
    p.add_argument("--keys", type=int, default=100_000)
    p.add_argument("--threads", type=int, default=16)
    p.add_argument("--budget-mib", type=int, default=256)
    p.add_argument("--flood-seconds", type=float, default=10.0)
    a = p.parse_args()
    for sub in ("lookup", "flood"):
        shutil.rmtree(os.path.join(a.dir, sub), ignore_errors=True)
        os.makedirs(os.path.join(a.dir, sub))
    res = lookups(os.path.join(a.dir, "lookup"), a.keys, a.threads)
    for k, v in res.items():
        print(f"{k:40} {v:12,.0f}")
    res = flood(os.path.join(a.dir, "flood"), a.budget_mib << 20, a.flood_seconds)
    for k, v in res.items():
        print(f"{k:40} {v:12,.2f}")
    shutil.rmtree(a.dir, ignore_errors=True)


if __name__ == "__main__":
    main()
