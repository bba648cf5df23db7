"""How long a cold `contains` of one prefix takes on a shared filesystem.

What vLLM's scheduler asks when a request arrives: are the chunks of its
prefix (196 keys for the DESIGN's 50,000 tokens) stored? Node A stores
PREFIXES prefixes of KEYS keys each (4 KiB chunks); then each `lookup` run
is a fresh process and Store on node B's mount asking for one prefix it has
never seen (verdict cache off), so every key costs its round trips. With
--master, the MooseFS master's LOOKUP count per key as well.

  python bench/dfs_metadata_prefix.py store WRITE_DIR --prefixes 12 [--keys 196]
  python bench/dfs_metadata_prefix.py lookup READ_DIR --index I [--keys 196] [--master H:P]

bench/dfs_metadata_sweep.sh runs it, alternating two builds of the package.
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

FP = {"model": "bench/dfs-prefix", "kv_dtype": "bfloat16"}


def prefix_keys(index: int, n: int) -> list[bytes]:
    return [b"prefix-%04d-chunk-%04d" % (index, i) for i in range(n)]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("mode", choices=("store", "lookup"))
    p.add_argument("dir")
    p.add_argument("--keys", type=int, default=196)
    p.add_argument("--prefixes", type=int, default=12, help="store: how many prefixes")
    p.add_argument("--index", type=int, default=0, help="lookup: which prefix")
    p.add_argument("--threads", type=int, default=16)
    p.add_argument("--master", default="")
    args = p.parse_args()

    if args.mode == "store":
        keys = [k for i in range(args.prefixes) for k in prefix_keys(i, args.keys)]
        with kvtier.Store(args.dir, FP, write_threads=args.threads, io_timeout_s=0) as s:
            small = np.ones(4096, np.uint8)
            if not all(s.wait(s.submit_put(keys, [small] * len(keys)))):
                raise SystemExit("could not store every key")
        return

    keys = prefix_keys(args.index, args.keys)
    with kvtier.Store(args.dir, FP, read_threads=args.threads, lookup_cache_s=0.0) as s:
        before = master_lookups(args.master, args.dir) if args.master else None
        t = time.perf_counter()
        found = s.contains(keys)
        ms = 1000 * (time.perf_counter() - t)
        after = master_lookups(args.master, args.dir) if args.master else None
    out = {"index": args.index, "keys": len(keys), "found": sum(found), "ms": round(ms, 1)}
    if before is not None and after is not None and after >= before:
        out["master_lookups_per_key"] = round((after - before) / len(keys), 3)
    out["load"] = os.getloadavg()[0]
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
