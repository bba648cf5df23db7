"""kvtier's vLLM tier vs vLLM's built-in `fs` tier: same workload, one run.

Both tiers are built through vLLM's own SecondaryTierFactory over the same
page-aligned primary region and driven with TransferJobs exactly as the
TieringOffloadingManager submits them. For each directory:

  store      one job storing a whole prefix (chunk size from --model)
  lookup     time until every chunk of the prefix resolves to HIT
  load-1     one request loading the whole prefix (what TTFT pays)
  load-20    20 concurrent requests, each loading its share of the prefix

Reports GB/s, p50/p99 job latency, CPU seconds per GB and lookup latency,
and kvtier/builtin ratios. kvtier verifies a checksum on every load; the
built-in tier has none.

  python bench/vllm_tier_vs_builtin.py --dirs /dev/shm/kvb /var/tmp/kvb

With --load-dirs (a shared filesystem mounted more than once, one mount per
node) the prefix is stored through --dirs and each load phase runs on a new
tier over another mount of the same directory: a cold page cache, as on the
node that reads what another wrote. The lookup is then timed on the reader.

With --variant NAME:KEY=VALUE,... (repeatable) kvtier runs once per variant
(its options added to --kvtier-opt's), each into its own directory, beside
one built-in run per repeat; each variant gets its own row and ratios. A
variant with no options (NAME:) is kvtier as configured by --kvtier-opt.

With --timeline, each load-20 run also prints when each of its jobs
finished and, per 50 ms of the run, the requests waiting on the load-20
directory's FUSE connection (when it is one and fusectl is mounted) and the
GB/s that --daemon-pid (that mount's FUSE daemon) wrote back to the kernel:
whether a tier keeps the mount busy to the end, or leaves it idle at times;
and where the threads of the load-20 tier (kvtier's workers and io_uring's,
the built-in tier's pool, by thread name) were, sampled the same way: the
kernel function each one waited in (/proc/self/task/*/wchan), or running;
and how busy the host's CPUs were (/proc/stat; idle and iowait count as idle).
The sampler's CPU time counts in that run's CPU figure.
"""

from __future__ import annotations

import argparse
import json
import mmap
import os
import platform
import re
import resource
import shutil
import sys
import threading
import time
import types
from pathlib import Path

import numpy as np
from vllm.v1.kv_offload.base import (
    LookupResult,
    OffloadingKVEventsConfig,
    ReqContext,
    ScheduleEndContext,
    make_offload_key,
)
from vllm.v1.kv_offload.tiering.base import TransferJob
from vllm.v1.kv_offload.tiering.factory import SecondaryTierFactory

# The OffloadingConfig and tier entries are built as the tests build them.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests/python"))
import vllm_harness  # noqa: E402

MODELS = {  # bytes of a 256-token chunk (the product brief's workload models)
    "llama-3.3-70b-tp8": 327680 * 256 // 8,  # 10 MiB per rank
    "llama-3.1-8b": 131072 * 256,  # 32 MiB
}


def enable_builtin_c_helper() -> bool:
    """Lets the built-in tier run its C I/O helper (vllm.fs_io_C), as it does on
    a CUDA host. The helper calls only Python and libc++, but its ELF file
    names CUDA torch's libraries; where those are absent (CPU torch) empty
    stand-ins with the same soname are loaded first. Returns whether the
    helper is in use."""
    import ctypes
    import importlib.util
    import subprocess
    import tempfile

    import torch  # noqa: F401  (loads libtorch / libc10 under their sonames)

    spec = importlib.util.find_spec("vllm.fs_io_C")
    if spec is None or spec.origin is None:
        return False
    needed = subprocess.run(
        ["readelf", "-d", spec.origin], capture_output=True, text=True, check=False
    ).stdout
    # The stubs are needed only until they are loaded: removed on the way out.
    stub_dir = tempfile.mkdtemp(prefix="kvtier-bench-stubs-")
    try:
        empty = os.path.join(stub_dir, "empty.c")
        open(empty, "w").close()
        for line in needed.splitlines():
            if "(NEEDED)" not in line:
                continue
            soname = line.split("[", 1)[1].rstrip("]")
            try:
                ctypes.CDLL(soname, mode=os.RTLD_GLOBAL)
                continue
            except OSError:
                pass
            if not soname.startswith(("libtorch", "libc10", "libnvrtc")):
                return False
            stub = os.path.join(stub_dir, soname)
            subprocess.run(
                ["cc", "-shared", "-fPIC", "-o", stub, empty, f"-Wl,-soname,{soname}"], check=True
            )
            ctypes.CDLL(stub, mode=os.RTLD_GLOBAL)
        from vllm.v1.kv_offload.tiering.fs import io as fs_io

        return bool(fs_io._HAS_FSIO_C)
    finally:
        shutil.rmtree(stub_dir, ignore_errors=True)


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def make_tier(kind: str, root: str, view: memoryview, chunk: int, threads: int, extra: dict):
    """kind: "builtin" or "kvtier"; extra: kvtier tier options."""
    if kind == "builtin":
        tier_cfg = vllm_harness.fs_tier(root, n_read_threads=threads, n_write_threads=threads)
    else:
        # A variant's own thread counts override --threads.
        opts = {"read_threads": threads, "write_threads": threads, **extra}
        tier_cfg = vllm_harness.kvtier_tier(root, **opts)
    cfg = vllm_harness.offloading_config(
        [tier_cfg],
        layers_per_group=1,
        chunk_bytes=chunk,
        tokens_per_hash=256,
        model="bench/model",
        max_model_len=0,
        engine_id=f"bench-{kind}",
    )
    spec = types.SimpleNamespace(
        config=cfg,
        blocks_per_chunk=1,
        kv_events_config=OffloadingKVEventsConfig(False, False),
    )
    return SecondaryTierFactory.create_secondary_tier(tier_cfg, view, spec)


def run_jobs(tier, jobs: list[TransferJob], load: bool) -> tuple[float, list[float]]:
    start = time.perf_counter()
    submitted = {}
    for job in jobs:
        submitted[job.job_id] = time.perf_counter()
        (tier.submit_load if load else tier.submit_store)(job)
    latencies, done = [], 0
    while done < len(jobs):
        for r in tier.get_finished_jobs():
            assert r.success, f"job {r.job_id} failed"
            latencies.append(time.perf_counter() - submitted[r.job_id])
            done += 1
        time.sleep(0.0002)
    return time.perf_counter() - start, latencies


class Timeline:
    """Samples, about every 2 ms while running, the FUSE requests waiting on
    the connection of `directory` (when it is a FUSE mount and fusectl is
    mounted), the bytes `daemon_pid` has written (its replies to the kernel:
    the data it served), and the state of every thread the process started
    after `before` (a set of thread ids) except the sampler itself. The
    sampler's own CPU time counts in the run's CPU figures."""

    def __init__(self, directory: str, daemon_pid: int | None, before: set[str]) -> None:
        dev = os.stat(directory).st_dev
        # fusectl names a connection by the kernel's dev_t (major << 20 | minor).
        conn = f"/sys/fs/fuse/connections/{(os.major(dev) << 20) | os.minor(dev)}"
        self.waiting = conn + "/waiting" if os.path.isdir(conn) else None
        self.io = f"/proc/{daemon_pid}/io" if daemon_pid else None
        self.before = before
        self.samples: list[tuple[float, int, int]] = []  # (s, waiting, bytes written)
        self.cpu: list[tuple[float, int, int]] = []  # (s, busy ticks, all ticks) of the host
        # Per thread name (its number dropped: kvtier-read, iou-wrk-, python):
        # samples per kernel wait channel, or "running".
        self.where: dict[str, dict[str, int]] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def threads() -> set[str]:
        return set(os.listdir("/proc/self/task"))

    @staticmethod
    def _read(path: str | None, key: str = "") -> int:
        if path is None:
            return -1
        try:
            with open(path) as f:
                if not key:
                    return int(f.read())
                return next(int(v) for k, v in (ln.split(":") for ln in f) if k == key)
        except (OSError, ValueError, StopIteration):
            return -1

    @staticmethod
    def _host_ticks() -> tuple[int, int]:
        """The host's CPU ticks: (busy, all), from /proc/stat's first line."""
        try:
            with open("/proc/stat") as f:
                t = [int(x) for x in f.readline().split()[1:]]
        except (OSError, ValueError):
            return -1, -1
        idle = t[3] + (t[4] if len(t) > 4 else 0)  # idle + iowait
        return sum(t) - idle, sum(t)

    def _sample_thread(self, tid: str) -> None:
        try:
            with open(f"/proc/self/task/{tid}/stat") as f:
                stat = f.read()
            with open(f"/proc/self/task/{tid}/wchan") as f:
                wchan = f.read().strip()
        except OSError:
            return  # exited
        comm = stat[stat.index("(") + 1 : stat.rindex(")")].rstrip("0123456789")
        state = stat.rpartition(")")[2].split()[0]
        key = "running" if state == "R" else (wchan if wchan not in ("", "0") else state)
        counts = self.where.setdefault(comm, {})
        counts[key] = counts.get(key, 0) + 1

    def _run(self) -> None:
        mine = str(threading.get_native_id())
        tids: list[str] = []
        n = 0
        while not self.stop.is_set():
            now = time.perf_counter()
            self.samples.append((now, self._read(self.waiting), self._read(self.io, "wchar")))
            self.cpu.append((now, *self._host_ticks()))
            # Threads appear as the load starts (io_uring's workers): look
            # for them at every sample of the first 50 ms, then every 25th.
            if n < 25 or n % 25 == 0:
                tids = [t for t in self.threads() if t not in self.before and t != mine]
            n += 1
            for tid in tids:
                self._sample_thread(tid)
            time.sleep(0.002)

    def __enter__(self) -> Timeline:
        self.t0 = time.perf_counter()
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join()

    def report(self, label: str, latencies: list[float]) -> None:
        done = " ".join(f"{x * 1e3:.0f}" for x in sorted(latencies))
        print(f"timeline {label} load-20: jobs done at ms {done}", flush=True)
        buckets: dict[int, list[tuple[float, int, int]]] = {}
        for s in self.samples:
            buckets.setdefault(int((s[0] - self.t0) / 0.05), []).append(s)
        rates, waits = [], []
        prev = None
        for b in range(max(buckets) + 1 if buckets else 0):
            ss = buckets.get(b)
            if not ss:  # no sample in this window (a stalled sampler)
                waits.append("-")
                rates.append("-")
                continue
            w = [x[1] for x in ss if x[1] >= 0]
            waits.append(f"{sum(w) / len(w):.0f}" if w else "-")
            last = ss[-1]
            if prev is not None and last[2] >= 0 and prev[2] >= 0 and last[0] > prev[0]:
                rates.append(f"{(last[2] - prev[2]) / (last[0] - prev[0]) / 1e9:.1f}")
            else:
                rates.append("-")
            prev = last
        print(f"timeline {label} load-20: per 50 ms, FUSE waiting {' '.join(waits)}", flush=True)
        print(f"timeline {label} load-20: per 50 ms, daemon GB/s {' '.join(rates)}", flush=True)
        busy = []
        by_bucket: dict[int, tuple[float, int, int]] = {}
        for c in self.cpu:
            by_bucket[int((c[0] - self.t0) / 0.05)] = c  # the last sample of each window
        prev_c = None
        for b in range(max(by_bucket) + 1 if by_bucket else 0):
            c = by_bucket.get(b)
            if c is None or prev_c is None or c[1] < 0 or c[2] <= prev_c[2]:
                busy.append("-")
            else:
                busy.append(f"{(c[1] - prev_c[1]) / (c[2] - prev_c[2]):.0%}")
            prev_c = c or prev_c
        print(f"timeline {label} load-20: per 50 ms, host CPU busy {' '.join(busy)}", flush=True)
        for comm, counts in sorted(self.where.items(), key=lambda kv: -sum(kv[1].values())):
            total = sum(counts.values())
            top = sorted(counts.items(), key=lambda kv: -kv[1])[:6]
            where = ", ".join(f"{k} {v / total:.0%}" for k, v in top)
            head = f"timeline {label} load-20: threads {comm} ({total} samples)"
            print(f"{head}: {where}", flush=True)


def wait_all_hit(tier, keys: list, ctx: ReqContext) -> float:
    """Seconds until every key looks up as HIT (vLLM retries a RETRY each step)."""
    t0 = time.perf_counter()
    for _ in range(100000):
        res = [tier.lookup(k, ctx) for k in keys]
        if all(r is LookupResult.HIT for r in res):
            break
        tier.on_schedule_end(ScheduleEndContext((), ()))
        time.sleep(0.0005)
    tier.on_request_finished(ctx)
    return time.perf_counter() - t0


def kvtier_io(tier) -> str:
    """What kvtier's store settled on (the `auto` choices), for the report."""
    store = getattr(tier, "store", None)
    if store is None:
        return ""
    seg = int(store.stats().get("segment_bytes", 0))
    mode = "direct" if store.load_direct_io else "buffered"
    return f"{store.io_backend} {mode} seg={seg >> 10}K"


def bench_tier(
    kind: str,
    root: str,
    arr: np.ndarray,
    ref: np.ndarray,
    args,
    load_roots: tuple[str, str] | None = None,
    opts: dict | None = None,
    label: str = "",
) -> dict:
    chunk = arr.shape[1]
    n = arr.shape[0]
    view = memoryview(arr)
    opts = args.kvtier_opts if opts is None else opts
    # --timeline samples the threads started from here on (or, with
    # load_roots, from when the load-20 tier is made).
    before = Timeline.threads()
    tier = make_tier(kind, root, view, chunk, args.threads, opts)
    keys = [make_offload_key(i.to_bytes(32, "big"), 0) for i in range(n)]
    ctx = ReqContext("bench")
    ids = np.arange(n, dtype=np.int32)
    gb = n * chunk / 1e9
    out: dict = {}
    jid = iter(range(1, 1 << 30))

    c0 = cpu_seconds()
    t, _ = run_jobs(tier, [TransferJob(next(jid), keys, ids, False, ctx)], load=False)
    out["store_GBps"] = gb / t
    out["store_cpu_s_per_GB"] = (cpu_seconds() - c0) / gb

    if load_roots is not None:
        tier.shutdown()
        tier = make_tier(kind, load_roots[0], view, chunk, args.threads, opts)
    io = kvtier_io(tier)
    out["lookup_all_hit_ms"] = wait_all_hit(tier, keys, ctx) * 1e3

    arr[:] = 0
    c0 = cpu_seconds()
    t, _ = run_jobs(tier, [TransferJob(next(jid), keys, ids, True, ctx)], load=True)
    out["load1_s"] = t
    out["load1_GBps"] = gb / t
    out["load1_cpu_s_per_GB"] = (cpu_seconds() - c0) / gb
    assert (arr == ref).all(), f"{kind}: loaded bytes differ"

    if load_roots is not None:
        tier.shutdown()
        before = Timeline.threads()
        tier = make_tier(kind, load_roots[1], view, chunk, args.threads, opts)
        wait_all_hit(tier, keys, ctx)
    arr[:] = 0
    shares = np.array_split(ids, args.concurrency)
    jobs = [TransferJob(next(jid), [keys[i] for i in s], s, True, ctx) for s in shares]
    c0 = cpu_seconds()
    if args.timeline:
        with Timeline(load_roots[1] if load_roots else root, args.daemon_pid, before) as tl:
            t, lat = run_jobs(tier, jobs, load=True)
        tl.report(label or kind, lat)
    else:
        t, lat = run_jobs(tier, jobs, load=True)
    out["load20_GBps"] = gb / t
    out["load20_p50_ms"] = float(np.percentile(lat, 50) * 1e3)
    out["load20_p99_ms"] = float(np.percentile(lat, 99) * 1e3)
    out["load20_cpu_s_per_GB"] = (cpu_seconds() - c0) / gb
    assert (arr == ref).all(), f"{kind}: loaded bytes differ (concurrent)"
    tier.shutdown()
    return out, io


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dirs", nargs="+", default=["/dev/shm/kvtier-bench", "/var/tmp/kvtier-bench"])
    p.add_argument(
        "--load-dirs",
        nargs=2,
        metavar=("LOAD1_DIR", "LOAD20_DIR"),
        help="the single --dirs entry seen through two other mounts: load-1 and load-20 read there",
    )
    p.add_argument("--model", choices=sorted(MODELS), default="llama-3.3-70b-tp8")
    p.add_argument("--prefix-tokens", type=int, default=50000)
    p.add_argument("--threads", type=int, default=16)
    p.add_argument("--concurrency", type=int, default=20)
    p.add_argument("--json", action="store_true")
    p.add_argument(
        "--timeline", action="store_true", help="print each load-20 run's course (docstring)"
    )
    p.add_argument("--daemon-pid", type=int, help="with --timeline: the load-20 mount's daemon")
    p.add_argument(
        "--repeat", type=int, default=1, help="runs per tier (alternating); medians are reported"
    )
    p.add_argument(
        "--builtin-io",
        choices=["c", "python"],
        default="c",
        help="the built-in tier's I/O path: its C helper (as on CUDA hosts) or pure Python",
    )
    p.add_argument(
        "--kvtier-opt",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help='extra kvtier tier option (JSON value), e.g. io_backend="threadpool"',
    )
    p.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME:KEY=VALUE,...",  # a VALUE (JSON) may hold commas
        help="a kvtier variant measured beside the others, e.g. seg1m:segment_bytes=1048576",
    )
    args = p.parse_args()
    if args.load_dirs and len(args.dirs) != 1:
        p.error("--load-dirs needs exactly one --dirs entry")

    def option(kv: str, where: str) -> tuple[str, object]:
        """KEY=VALUE, VALUE in JSON; a malformed one is a usage error."""
        k, eq, v = kv.partition("=")
        if not eq or not k.isascii() or not k.isidentifier():
            p.error(f"{where} {kv!r}: expected KEY=VALUE with KEY a name")
        try:
            return k, json.loads(v)
        except ValueError:
            p.error(f'{where} {kv!r}: VALUE is not JSON (quote strings: KEY="text")')

    args.kvtier_opts = dict(option(kv, "--kvtier-opt") for kv in args.kvtier_opt)
    # kind label -> (tier kind, kvtier options)
    kinds: dict[str, tuple[str, dict]] = {"builtin": ("builtin", {})}
    if not args.variant:
        kinds["kvtier"] = ("kvtier", args.kvtier_opts)
    for v in args.variant:
        name, _, spec = v.partition(":")
        bare = name.replace("-", "").replace("_", "")
        if not name or not bare.isascii() or not bare.isalnum():
            p.error(f"--variant {v!r}: NAME must be ASCII letters, digits, - or _")
        opts = dict(args.kvtier_opts)
        # Split only before the next KEY=, so a JSON value may hold commas.
        spec = spec.strip(",")
        pairs = re.split(r",(?=[A-Za-z_][A-Za-z0-9_]*=)", spec) if spec else []
        opts.update(option(kv, f"--variant {name}") for kv in pairs)
        label = f"kvtier[{name}]"
        if label in kinds:
            p.error(f"--variant {name} given twice")
        kinds[label] = ("kvtier", opts)

    if args.builtin_io == "c":
        if not enable_builtin_c_helper():
            raise SystemExit("vllm.fs_io_C could not be loaded; use --builtin-io python")
    else:
        from vllm.v1.kv_offload.tiering.fs import io as fs_io

        fs_io._HAS_FSIO_C = False
    chunk = MODELS[args.model]
    n = -(-args.prefix_tokens // 256)
    buf = mmap.mmap(-1, n * chunk)  # page-aligned, like vLLM's SharedOffloadRegion
    arr = np.frombuffer(buf, dtype=np.uint8).reshape(n, chunk)
    arr[:] = np.random.default_rng(0).integers(0, 255, size=arr.shape, dtype=np.uint8)
    ref = arr.copy()
    report = {
        "model": args.model,
        "chunk_bytes": chunk,
        "chunks": n,
        "threads": args.threads,
        "repeat": args.repeat,
        "builtin_io": args.builtin_io,
        "kvtier_options": args.kvtier_opts,
        "variants": {k: o for k, (t, o) in kinds.items() if t == "kvtier"},
        "machine": f"{platform.machine()} {os.cpu_count()} cores",
        "date": time.strftime("%Y-%m-%d"),
        "load_dirs": args.load_dirs,
        "dirs": {},
    }
    for d in args.dirs:
        runs: dict[str, list[dict]] = {label: [] for label in kinds}
        ios: dict[str, str] = {}
        for rep in range(args.repeat):
            order = list(kinds) if rep % 2 == 0 else list(reversed(kinds))
            for label in order:
                kind, opts = kinds[label]
                sub = label.replace("[", "-").rstrip("]")
                root = os.path.join(d, sub)
                shutil.rmtree(root, ignore_errors=True)
                os.makedirs(root)
                loads = None
                if args.load_dirs:
                    loads = (
                        os.path.join(args.load_dirs[0], sub),
                        os.path.join(args.load_dirs[1], sub),
                    )
                out, ios[label] = bench_tier(kind, root, arr, ref, args, loads, opts, label)
                runs[label].append(out)
                shutil.rmtree(root, ignore_errors=True)
        row = {
            label: {m: float(np.median([r[m] for r in rs])) for m in rs[0]}
            for label, rs in runs.items()
        }
        b = row["builtin"]
        row["ratio"] = {}
        for label in kinds:
            if label == "builtin":
                continue
            k = row[label]
            row["ratio"][label] = {
                "store": k["store_GBps"] / b["store_GBps"],
                "load1": k["load1_GBps"] / b["load1_GBps"],
                "load20": k["load20_GBps"] / b["load20_GBps"],
                "lookup_speedup": b["lookup_all_hit_ms"] / max(k["lookup_all_hit_ms"], 1e-9),
            }
        row["io"] = ios
        report["dirs"][d] = row
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(
        f"{args.model}: {n} chunks x {chunk / 2**20:.0f} MiB, {args.threads} threads, "
        f"built-in tier I/O: {args.builtin_io}, median of {args.repeat}"
    )
    for d, row in report["dirs"].items():
        print(f"\n{d}")
        cols = [
            "store_GBps",
            "load1_GBps",
            "load20_GBps",
            "load20_p50_ms",
            "load20_p99_ms",
            "load1_cpu_s_per_GB",
            "lookup_all_hit_ms",
        ]
        w = max(8, *(len(label) for label in kinds))
        print(f"  {'':{w}}" + "".join(f"{c:>20}" for c in cols) + "  io")
        for label in kinds:
            print(
                f"  {label:{w}}"
                + "".join(f"{row[label][c]:>20.2f}" for c in cols)
                + f"  {row['io'].get(label, '')}"
            )
        for label, r in row["ratio"].items():
            print(
                f"  {label}/builtin: store {r['store']:.2f}x  load-1 {r['load1']:.2f}x  "
                f"load-20 {r['load20']:.2f}x  lookup {r['lookup_speedup']:.2f}x faster"
            )


if __name__ == "__main__":
    main()
