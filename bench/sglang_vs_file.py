"""kvtier's SGLang HiCache backend vs SGLang's built-in ``file`` backend, same
directory, same host memory pool, same calls SGLang's cache controller makes.

A prefetch of one prefix = per batch of 128 pages (SGLang's
STORAGE_BATCH_SIZE) a ``batch_exists`` and then the page reads: for kvtier the
zero-copy ``batch_get_v1`` into the pool's pages (``interface_v1``), for
``file`` SGLang's generic path (``batch_get`` into a flat page tensor per page,
then ``set_from_flat_data_page`` into the pool), as the controller picks for
each. kvtier verifies every chunk's checksum (``verify`` defaults to on);
``file`` checks only the length. Every loaded page is compared with what was
stored (outside the clock).

"single": one prefix of --tokens tokens. "concurrent": --concurrency prefixes
fetched at once from as many threads. Files are written once, then the page
cache is dropped for this benchmark's files only (fdatasync +
POSIX_FADV_DONTNEED; tmpfs keeps them in memory by nature) before every
timed read ("cold"), and read again without dropping ("warm").

    python bench/sglang_vs_file.py --dirs /var/tmp/sglbench /dev/shm/sglbench

--fetch-dirs (one per --dirs entry) reads through another path to the same
directory, e.g. a second mount of a distributed filesystem, as another node
would: a second backend attached there does every fetch, so the reading
side's client caches start cold.

--before-store and --before-fetch name shell commands run before each
backend attaches and stores, and before its reading side attaches and
fetches: e.g. ``tools/dfs.sh delay STATE 0`` and ``... 2`` to store through
an undelayed mount and fetch through a delayed one (``file`` stores one page
at a time, which takes minutes at 2 ms per direction).

--kvtier-direct-io runs kvtier once per value of its backend's ``direct_io``
option (``auto``, ``true``, ``false``), each against the same ``file`` run.
Every phase (store, cache drop, fetches, byte checks) prints its wall time as
it ends (lines starting ``# phase``), and each backend's results print as
soon as it is done, so a run cut short still says where its time went.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "python"))
import sglang_harness as h  # noqa: E402
import torch  # noqa: E402

import kvtier  # noqa: E402

BATCH = 128  # SGLang's STORAGE_BATCH_SIZE


def cpu_s(pids: list[int]) -> float:
    """User + system CPU seconds of these processes, all their threads."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def _drop_one(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fdatasync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def _list(path: str) -> tuple[list[str], list[str]]:
    """(subdirectories, files) of one directory, as paths."""
    dirs, files = [], []
    try:
        with os.scandir(path) as it:
            for e in it:
                (dirs if e.is_dir(follow_symlinks=False) else files).append(e.path)
    except OSError:
        pass
    return dirs, files


def drop_cache(root: str) -> None:
    """Drop the page cache of every file under root. On a network filesystem
    each directory listing and each open is a round trip, so 16 threads list
    the tree a level at a time and then open the files (one by one, kvtier's
    7,840 chunk files in their fan-out directories took 35 s through a MooseFS
    mount at 0.5 ms on the 2-core VM)."""
    paths: list[str] = []
    with ThreadPoolExecutor(16) as ex:
        level = [root]
        while level:
            below = []
            for dirs, files in ex.map(_list, level):
                below += dirs
                paths += files
            level = below
        list(ex.map(_drop_one, paths))


def zero(pool, dst: torch.Tensor) -> None:
    """Clear the destination pages, so a check after a load sees new bytes."""
    ps = pool.page_size
    for i in range(0, dst.numel(), ps):
        pool.kv_buffer[:, int(dst[i]) // ps].zero_()


def prefetch(kind: str, backend, pool, keys: list[str], dst: torch.Tensor) -> int:
    """One prefix, as SGLang's prefetch threads run it; returns pages loaded."""
    ps = pool.page_size
    hit = 0
    for i in range(0, len(keys), BATCH):
        n = backend.batch_exists(keys[i : i + BATCH])
        hit += n
        if n < len(keys[i : i + BATCH]):
            break
    loaded = 0
    for i in range(0, hit, BATCH):
        bk = keys[i : min(i + BATCH, hit)]
        idx = dst[i * ps : (i + len(bk)) * ps]
        if kind == "kvtier":
            ok = backend.batch_get_v1(bk, idx)
            good = ok.index(False) if False in ok else len(ok)
        else:
            pages = backend.batch_get(bk, [pool.get_dummy_flat_data_page() for _ in bk])
            good = 0
            for j, p in enumerate(pages):
                if p is None:
                    break
                pool.set_from_flat_data_page(int(idx[j * ps]), p)
                good += 1
        loaded += good
        if good < len(bk):
            break
    return loaded


def store(kind: str, backend, pool, keys: list[str], src: torch.Tensor) -> bool:
    ps = pool.page_size
    for i in range(0, len(keys), BATCH):
        bk = keys[i : i + BATCH]
        idx = src[i * ps : (i + len(bk)) * ps]
        if kind == "kvtier":
            if not all(backend.batch_set_v1(bk, idx)):
                return False
        else:
            pages = [pool.get_data_page(int(idx[j * ps])) for j in range(len(bk))]
            if not backend.batch_set(bk, pages):
                return False
    return True


def hook(cmd: str | None) -> None:
    """Runs a --before-store / --before-fetch command; its failure ends the run."""
    if cmd:
        print(f"# hook: {cmd}", flush=True)
        subprocess.run(cmd, shell=True, check=True)


def phase(kind: str, what: str, t0: float) -> float:
    """Print how long a phase took (a progress line); returns now."""
    now = time.perf_counter()
    print(f"# phase {kind}: {what} {now - t0:.2f} s", flush=True)
    return now


def run(kind: str, root: str, fetch_root: str, args, direct_io: str = "auto") -> dict[str, float]:
    pages = -(-args.tokens // args.page_size)
    pool = h.make_pool(
        "page_first_direct",
        layers=args.layers,
        heads=args.heads,
        head_dim=args.head_dim,
        page_size=args.page_size,
        pages=pages * (args.concurrency + 1) + 1,
    )

    hook(args.before_store)

    def attach(path: str):
        if kind == "kvtier":
            opts = {"io_timeout_s": args.io_timeout_s}
            if direct_io != "auto":
                opts["direct_io"] = direct_io == "true"
            return h.attach("dynamic", h.kvtier_extra(path, **opts), pool)
        return h.attach("file", {"file_storage_path": path}, pool)

    writer = attach(root)
    src = pool.alloc(pages * pool.page_size)
    t = time.perf_counter()
    h.fill_random(pool, src, seed=7)
    assert pool.layout == "page_first_direct"  # kv_buffer[:, page] is one whole page
    src_pages = src[:: pool.page_size] // pool.page_size
    # Compared as bytes (random bf16 bits hold NaNs, which never equal).
    want = pool.kv_buffer[:, src_pages].view(torch.uint8).clone()
    page_nbytes = want[:, 0].numel()
    dsts = [pool.alloc(pages * pool.page_size) for _ in range(args.concurrency)]
    prefixes = [
        [uuid.uuid4().hex + uuid.uuid4().hex for _ in range(pages)] for _ in range(args.concurrency)
    ]
    label = kind if kind == "file" else f"kvtier direct_io={direct_io}"
    phase(label, "pool and random pages", t)
    t = time.perf_counter()
    for keys in prefixes:
        assert store(kind, writer, pool, keys, src), f"{kind}: store failed"
    out = {"store_GBps": pages * len(prefixes) * page_nbytes / (time.perf_counter() - t) / 1e9}
    phase(label, f"store {len(prefixes)} prefixes ({pages * len(prefixes)} pages)", t)
    hook(args.before_fetch)
    backend = writer if fetch_root == root else attach(fetch_root)
    if kind == "kvtier":
        st = backend.store
        print(
            f"# {label}: loads {st.io_backend} direct_io={st.load_direct_io}, "
            f"stores direct_io={writer.store.store_direct_io}",
            flush=True,
        )

    def check(dst) -> None:
        got = pool.kv_buffer[:, dst[:: pool.page_size] // pool.page_size].view(torch.uint8)
        assert torch.equal(got, want), f"{kind}: loaded pages differ from the stored ones"

    nbytes = pages * page_nbytes
    watch = {"bench": [os.getpid()], **args.cpu_pids}
    for cache in ("cold", "warm"):
        singles, concs = [], []
        cpu = {f"{cache}_{m}": dict.fromkeys(watch, 0.0) for m in ("single", "conc")}

        def charge(key: str, before: dict[str, float], cpu=cpu) -> None:
            for w, pids in watch.items():
                cpu[key][w] += cpu_s(pids) - before[w]

        for r in range(args.repeats):
            t0 = time.perf_counter()
            if cache == "cold":
                drop_cache(fetch_root)
                t0 = phase(label, f"{cache} {r}: drop cache", t0)
            for d in dsts:
                zero(pool, d)
            phase(label, f"{cache} {r}: zero the destination pages", t0)
            before = {w: cpu_s(p) for w, p in watch.items()}
            t = time.perf_counter()
            n = prefetch(kind, backend, pool, prefixes[0], dsts[0])
            singles.append(time.perf_counter() - t)
            phase(label, f"{cache} {r}: single fetch", t)
            charge(f"{cache}_single", before)
            assert n == pages, f"{kind}: {n}/{pages} pages loaded"
            check(dsts[0])
            t0 = time.perf_counter()
            if cache == "cold":
                drop_cache(fetch_root)
                t0 = phase(label, f"{cache} {r}: drop cache", t0)
            counts = [0] * args.concurrency

            def one(i: int, counts: list[int] = counts) -> None:
                counts[i] = prefetch(kind, backend, pool, prefixes[i], dsts[i])

            threads = [threading.Thread(target=one, args=(i,)) for i in range(args.concurrency)]
            before = {w: cpu_s(p) for w, p in watch.items()}
            t = time.perf_counter()
            for th in threads:
                th.start()
            for th in threads:
                th.join()
            concs.append(time.perf_counter() - t)
            phase(label, f"{cache} {r}: {args.concurrency} concurrent fetch", t)
            charge(f"{cache}_conc", before)
            assert counts == [pages] * args.concurrency, f"{kind}: {counts}"
            t0 = time.perf_counter()
            for d in dsts:
                check(d)
            phase(label, f"{cache} {r}: byte checks", t0)
        out[f"{cache}_single_s"] = statistics.median(singles)
        out[f"{cache}_single_GBps"] = nbytes / out[f"{cache}_single_s"] / 1e9
        out[f"{cache}_conc_s"] = statistics.median(concs)
        out[f"{cache}_conc_GBps"] = nbytes * args.concurrency / out[f"{cache}_conc_s"] / 1e9
        for key, per in cpu.items():
            # CPU seconds per repeat, and the wall seconds they were spent in.
            wall = sum(singles if key.endswith("single") else concs) / args.repeats
            out[f"{key}_cpu"] = {w: v / args.repeats for w, v in per.items()} | {"wall": wall}
    if kind == "kvtier":
        s = backend.stats()
        bad = sum(v for k, v in s.items() if k.startswith("verify_failures_total"))
        out["verified_chunks"] = s["get_hits_total"]
        assert bad == 0
        backend.close()
        if writer is not backend:
            writer.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dirs", nargs="+", default=["/var/tmp/sglbench", "/dev/shm/sglbench"])
    ap.add_argument(
        "--fetch-dirs",
        nargs="+",
        help="read through these paths to the --dirs directories (same count), e.g. another mount",
    )
    ap.add_argument("--tokens", type=int, default=50_000)
    ap.add_argument("--page-size", type=int, default=256)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--heads", type=int, default=2)
    ap.add_argument("--head-dim", type=int, default=128)
    ap.add_argument("--concurrency", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument(
        "--cpu-pids",
        nargs="*",
        default=[],
        metavar="NAME=PID[,PID...]",
        help="also report the CPU seconds these processes (e.g. the reading mount's FUSE "
        "daemon) spent during each timed fetch, beside this process's own",
    )
    ap.add_argument(
        "--sglang-reserve-gb",
        type=float,
        help="host memory (GiB) SGLang keeps free beside its host pool; its own default is "
        "10 GiB (HICACHE_HOST_MEMORY_RESERVE_BYTES), which refuses any pool on a 24 GB "
        "machine with less than 10 GiB available",
    )
    ap.add_argument(
        "--io-timeout-s",
        type=float,
        default=kvtier.DEFAULT_IO_TIMEOUT_S,
        help="kvtier's per-job I/O deadline: 20 concurrent prefetches queue their 128-page "
        "jobs behind each other, so on a slow mount the last ones wait longer than the "
        "default before a worker reaches them",
    )
    ap.add_argument("--before-store", help="shell command run before each backend stores")
    ap.add_argument("--before-fetch", help="shell command run before each backend fetches")
    ap.add_argument(
        "--kvtier-direct-io",
        nargs="+",
        default=["auto"],
        choices=["auto", "true", "false"],
        help="run kvtier once per value of its direct_io option (auto: the store's "
        "per-filesystem choice), each against the same file run",
    )
    args = ap.parse_args()
    args.cpu_pids = {
        name: [int(p) for p in pids.split(",") if p]
        for name, pids in (w.split("=", 1) for w in args.cpu_pids)
    }
    per_token = 2 * args.layers * args.heads * args.head_dim * 2
    pages = -(-args.tokens // args.page_size)
    pool_bytes = (pages * (args.concurrency + 1) + 1) * args.page_size * per_token
    avail = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                avail = int(line.split()[1]) * 1024
    # After sglang_harness, which must be imported before anything from sglang.
    import sglang.srt.mem_cache.pool_host.base as sglang_pool_host

    if args.sglang_reserve_gb is not None:
        sglang_pool_host.HICACHE_HOST_MEMORY_RESERVE_BYTES = int(args.sglang_reserve_gb * 2**30)
    reserve = sglang_pool_host.HICACHE_HOST_MEMORY_RESERVE_BYTES
    print(
        f"# {args.tokens} tokens, page {args.page_size} tokens, {per_token} B/token bf16 "
        f"({args.layers} layers x {args.heads} KV heads x {args.head_dim}), "
        f"{args.concurrency} concurrent, median of {args.repeats}; "
        f"host pool {pool_bytes / 1e9:.2f} GB, MemAvailable {avail / 1e9:.2f} GB, "
        f"SGLang's reserve {reserve / 2**30:g} GiB; kvtier io_timeout_s {args.io_timeout_s:g}"
    )
    if pool_bytes + reserve > avail:
        sys.exit(
            f"sglang_vs_file: the host pool ({pool_bytes / 1e9:.2f} GB) and SGLang's reserve "
            f"({reserve / 2**30:g} GiB) do not fit in the available memory "
            f"({avail / 1e9:.2f} GB); pass fewer --layers or a smaller --sglang-reserve-gb"
        )
    sys.stdout.flush()
    fetch_dirs = args.fetch_dirs or args.dirs
    if len(fetch_dirs) != len(args.dirs):
        ap.error("--fetch-dirs needs one path per --dirs entry")
    for d, fd in zip(args.dirs, fetch_dirs):
        label = d if fd == d else f"{d} -> {fd}"
        res = {}
        runs = [("file", "file", "auto")] + [
            ("kvtier" if v == "auto" else f"kvtier direct_io={v}", "kvtier", v)
            for v in args.kvtier_direct_io
        ]
        for name, kind, dio in runs:
            sub = f"{kind}-{uuid.uuid4().hex[:8]}"
            root = os.path.join(d, sub)
            os.makedirs(root)
            try:
                res[name] = run(kind, root, os.path.join(fd, sub), args, dio)
            finally:
                shutil.rmtree(root, ignore_errors=True)
            r = res[name]
            cells = "  ".join(
                f"{c}_{m} {r[f'{c}_{m}_s']:.3f} s"
                for c in ("cold", "warm")
                for m in ("single", "conc")
            )
            print(f"# done {name}: store {r['store_GBps']:.2f} GB/s  {cells}", flush=True)
        f = res["file"]
        for cache in ("cold", "warm"):
            for mode in ("single", "conc"):
                key = f"{cache}_{mode}"
                for name, r in res.items():
                    if name == "file":
                        continue
                    print(
                        f"{label}\t{key}\t"
                        f"file {f[key + '_s']:.3f} s ({f[key + '_GBps']:.2f} GB/s)\t"
                        f"{name} {r[key + '_s']:.3f} s ({r[key + '_GBps']:.2f} GB/s)\t"
                        f"speedup {f[key + '_s'] / r[key + '_s']:.2f}x"
                    )
                for name, r in res.items():
                    c = r[key + "_cpu"]
                    cells = " ".join(f"{w} {v:.2f}" for w, v in c.items())
                    print(f"{label}\t{key}\t{name} CPU s per fetch: {cells}")
        for name, r in res.items():
            if name == "file":
                continue
            print(
                f"{label}\tstore\tfile {f['store_GBps']:.2f} GB/s\t"
                f"{name} {r['store_GBps']:.2f} GB/s"
                f"\t{name} chunks verified: {r['verified_chunks']}"
            )
        sys.stdout.flush()


if __name__ == "__main__":
    main()
