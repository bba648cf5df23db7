"""Metadata operations per page of an SGLang-shaped fetch on MooseFS: kvtier
vs a flat directory of one file a page (SGLang's `file` backend's layout).

PREFIXES prefixes of PAGES pages of 1 MiB are stored through one mount
(`store`); then, from a fresh process on another mount, PREFIXES threads
fetch one prefix each the way SGLang's prefetch does: an existence check
per batch of 128 pages, then their loads. `flat` checks with a lookup of
each name (`os.path.exists`) and reads each file; `kvtier` runs
`Store.contains` and a get job per batch (`kvtier-contains` /
`kvtier-get`: only one of the two). `flat-held` and `fan1-held` measure a
layout kvtier does not have, to see what it would save: the check opens
each page (relative to a held directory handle: the flat directory, or
the page's one of 256 fan-out directories, all opened before the count
starts, as in a long-running process) and keeps the descriptor, and the
load reads through it, with no second lookup. Printed: wall time, pages/s,
and the master's operation counters of the fetching mount (`mfscli -SMO`)
per page.

    python bench/dfs_fetch_ops.py --store-dir M0 --fetch-dir M1 --master HOST:PORT store
    python bench/dfs_fetch_ops.py --store-dir M0 --fetch-dir M1 --master HOST:PORT flat
    python bench/dfs_fetch_ops.py --store-dir M0 --fetch-dir M2 --master HOST:PORT kvtier

Use a mount per fetch (or wait past the client's caches): the counts are of
a cold client.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import threading
import time
import uuid

import numpy as np
from mfs_counters import Counters, mount_of

import kvtier

BATCH = 128  # SGLang's STORAGE_BATCH_SIZE


def fan1_dir(key: bytes) -> str:
    """The page's directory of 256 in the one-level layout (fan1-held)."""
    return hashlib.blake2b(key, digest_size=1).hexdigest()


def fan1(root: str, key: bytes) -> str:
    return f"{root}/fan1/{fan1_dir(key)}/{key.decode()}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "phase",
        choices=[
            "store",
            "flat",
            "kvtier",
            "kvtier-contains",
            "kvtier-get",
            "flat-held",
            "fan1-held",
        ],
    )
    ap.add_argument("--store-dir", required=True, help="a directory on the storing mount")
    ap.add_argument("--fetch-dir", required=True, help="the same directory through another mount")
    ap.add_argument("--master", required=True, help="the MooseFS master, HOST:PORT")
    ap.add_argument("--prefixes", type=int, default=4)
    ap.add_argument("--pages", type=int, default=196)
    args = ap.parse_args()
    fp = {"model": "bench/fetch-ops"}
    page = np.random.default_rng(1).integers(0, 255, 1 << 20, dtype=np.uint8)
    keys = [
        [uuid.UUID(int=p * 100_000 + i).hex.encode() for i in range(args.pages)]
        for p in range(args.prefixes)
    ]
    if args.phase == "store":
        os.makedirs(args.store_dir + "/kv", exist_ok=True)
        os.makedirs(args.store_dir + "/flat", exist_ok=True)
        for d in range(256):
            os.makedirs(f"{args.store_dir}/fan1/{d:02x}", exist_ok=True)
        with kvtier.Store(args.store_dir + "/kv", fp) as s:
            for k in (k for ks in keys for k in ks):
                assert s.put(k, page)
                for path in (f"{args.store_dir}/flat/{k.decode()}", fan1(args.store_dir, k)):
                    with open(path, "wb") as f:
                        f.write(page.tobytes())
        return

    counters = Counters(args.master, mount_of(args.fetch_dir))
    store = None
    if args.phase.startswith("kvtier"):
        # No verdict cache: every check asks the filesystem, as a cold node does.
        store = kvtier.Store(args.fetch_dir + "/kv", fp, lookup_cache_s=0)

    # Directory handles held from the start (not counted), for the -held phases.
    dirs: dict[str, int] = {}
    if args.phase == "flat-held":
        dirs[""] = os.open(args.fetch_dir + "/flat", os.O_RDONLY | os.O_DIRECTORY)
    elif args.phase == "fan1-held":
        for d in range(256):
            dirs[f"{d:02x}"] = os.open(
                f"{args.fetch_dir}/fan1/{d:02x}", os.O_RDONLY | os.O_DIRECTORY
            )

    def fetch_held(ks: list[bytes]) -> None:
        out = bytearray(page.size)
        fds = []
        for k in ks:  # the check: a lookup and an open, the descriptor kept
            d = "" if args.phase == "flat-held" else fan1_dir(k)
            fds.append(os.open(k.decode(), os.O_RDONLY, dir_fd=dirs[d]))
        for fd in fds:  # the load: no lookup
            assert os.preadv(fd, [out], 0) == page.size
            os.close(fd)

    def fetch(ks: list[bytes]) -> None:
        if args.phase.endswith("-held"):
            fetch_held(ks)
            return
        if store is None:
            for k in ks:
                assert os.path.exists(f"{args.fetch_dir}/flat/{k.decode()}")
            for k in ks:
                with open(f"{args.fetch_dir}/flat/{k.decode()}", "rb") as f:
                    assert len(f.read()) == page.size
            return
        outs = [np.empty(page.size, np.uint8) for _ in ks]
        for i in range(0, len(ks), BATCH):
            if args.phase != "kvtier-get":
                assert all(store.contains(ks[i : i + BATCH]))
        for i in range(0, len(ks), BATCH):
            if args.phase != "kvtier-contains":
                assert all(store.wait(store.submit_get(ks[i : i + BATCH], outs[i : i + BATCH])))

    before = counters.read()
    t = time.perf_counter()
    threads = [threading.Thread(target=fetch, args=(ks,)) for ks in keys]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    secs = time.perf_counter() - t
    after = counters.read()
    if store is not None:
        store.close()
    for fd in dirs.values():
        os.close(fd)
    n = args.prefixes * args.pages
    ops = ", ".join(
        f"{op} {(after[op] - before[op]) / n:.2f}" for op in after if after[op] != before[op]
    )
    print(f"{args.phase}: {secs:.2f} s, {n / secs:.0f} pages/s; master operations per page: {ops}")


if __name__ == "__main__":
    main()
