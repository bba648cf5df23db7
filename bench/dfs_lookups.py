"""Batched `contains` on a shared filesystem, as a second node sees it.

Node A (a Store over WRITE_DIR) stores half the keys; node B (a Store over
READ_DIR, the same directory through another mount) looks up all of them in
one batch, three ways:

  cold         B has never seen these names: every key costs round trips
               (leaf directories opened, then fstatat) to the metadata server
  warm         the same batch again at once, verdict cache off: what the
               kernel's and the FUSE client's entry/attribute caches save
  verdict      the same batch again with the verdict cache on (lookup_cache_s)

Baseline: os.stat of the same paths from one Python thread, cold (through a
third mount) and warm.

With --master HOST:PORT, the cold batch's LOOKUP round trips per key, read
from the MooseFS master's counters of READ_DIR's mount.

  python bench/dfs_lookups.py WRITE_DIR READ_DIR STAT_DIR [--keys 20000] [--master H:P]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

import kvtier

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mfs_counters import master_lookups  # noqa: E402

FP = {"model": "bench/dfs-lookup", "kv_dtype": "bfloat16"}


def timed_contains(store: kvtier.Store, keys: list[bytes], present: int) -> float:
    t = time.perf_counter()
    res = store.contains(keys)
    dt = time.perf_counter() - t
    if sum(res) != present:
        raise SystemExit(f"contains found {sum(res)} of {present} stored keys")
    return len(keys) / dt


def stat_rate(paths: list[str]) -> float:
    t = time.perf_counter()
    for p in paths:
        os.stat(p)
    return len(paths) / (time.perf_counter() - t)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("write_dir")
    p.add_argument("read_dir")
    p.add_argument("stat_dir", help="the same directory through a third mount (cold os.stat)")
    p.add_argument("--keys", type=int, default=20_000)
    p.add_argument("--threads", type=int, default=16)
    p.add_argument("--stat-sample", type=int, default=2000, help="paths in the os.stat baseline")
    p.add_argument("--master", default="", help="HOST:PORT of the MooseFS master (ops per key)")
    args = p.parse_args()

    n = args.keys
    present = [b"hit-%08d" % i for i in range(n // 2)]
    absent = [b"miss-%08d" % i for i in range(n - n // 2)]
    keys = [k for pair in zip(present, absent) for k in pair]
    out: dict = {"keys": n, "threads": args.threads}
    t = time.perf_counter()
    # Setting up, not measured: no per-job deadline (10,000 stores at 1 ms
    # per direction in one job outlast the default 30 s).
    with kvtier.Store(args.write_dir, FP, write_threads=args.threads, io_timeout_s=0) as a:
        small = np.ones(4096, np.uint8)
        job = a.submit_put(present, [small] * len(present))
        if not all(a.wait(job)):
            raise SystemExit("node A could not store every key")
    out["store_s"] = time.perf_counter() - t

    with kvtier.Store(args.read_dir, FP, read_threads=args.threads, lookup_cache_s=0.0) as b:
        before = master_lookups(args.master, args.read_dir) if args.master else None
        out["cold_keys_per_s"] = timed_contains(b, keys, len(present))
        if before is not None:
            after = master_lookups(args.master, args.read_dir)
            if after is not None and after >= before:
                out["cold_master_lookups_per_key"] = round((after - before) / n, 3)
        out["warm_keys_per_s"] = timed_contains(b, keys, len(present))
    with kvtier.Store(args.read_dir, FP, read_threads=args.threads, lookup_cache_s=30.0) as b:
        b.contains(keys)  # fills the verdict cache
        out["verdict_keys_per_s"] = timed_contains(b, keys, len(present))

    # os.stat of the stored files, found by walking node A's tree (names
    # only), then stat'ed through a mount that has not seen them.
    rel = []
    for d, _, fs in os.walk(args.write_dir):
        rel += [
            os.path.relpath(os.path.join(d, f), args.write_dir) for f in fs if f.endswith(".kv")
        ]
    rel = rel[: args.stat_sample]
    out["stat_files"] = len(rel)
    out["os_stat_cold_per_s"] = stat_rate([os.path.join(args.stat_dir, r) for r in rel])
    out["os_stat_warm_per_s"] = stat_rate([os.path.join(args.stat_dir, r) for r in rel])
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
