"""Metadata operations per chunk, read from the MooseFS master's own counters.

On a parallel filesystem every lookup, getattr, open, create, rename, unlink
and setattr of a chunk file is a round trip to the metadata server (Lustre's
MDS, MooseFS's master), and at scale that server, not the disks, saturates.
This benchmark counts what each tier sends it, per chunk, for the same
workload: the master keeps per-mount operation counters (`mfscli -SMO`), and
each node of the workload runs on its own mount, so every phase is the
difference of its mount's counters around it.

For kvtier's vLLM tier and vLLM's built-in `fs` tier, alternately (both built
through vLLM's SecondaryTierFactory, driven as bench/vllm_tier_vs_builtin.py
drives them):

  put      node A (mount 0) stores a prefix of N chunks in one job
  lookup   node B (mount 1, never saw the files) until every chunk is a HIT
  again    node B looks the prefix up again for a new request, 1.2 s later
           (past kvtier's default lookup_cache_s)
  get      node B loads the whole prefix (bytes checked)
  evict    kvtier's evictor on mount 2 deletes every chunk in one pass
           (`kvtier evict --once`; the built-in tier has no evictor of its
           own, so this is the evictor's cost on vLLM's layout)

plus each phase's wall time. The tier's start (namespace directory,
fingerprint or config file, O_DIRECT probe) is reported apart: it happens
once per process, not per chunk.

  python bench/dfs_metadata.py --master HOST:PORT --mounts M0 M1 M2 \\
      --kvtier-cli build/release/src/cli/kvtier [--chunks 79] [--repeat 2]

bench/dfs_metadata.sh brings a cluster up at each delay and runs this.
"""

from __future__ import annotations

import argparse
import json
import mmap
import os
import shutil
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mfs_counters import OPS, Counters  # noqa: E402
from vllm.v1.kv_offload.base import ReqContext, make_offload_key  # noqa: E402
from vllm.v1.kv_offload.tiering.base import TransferJob  # noqa: E402
from vllm_tier_vs_builtin import (  # noqa: E402
    MODELS,
    enable_builtin_c_helper,
    make_tier,
    run_jobs,
    wait_all_hit,
)

# What a table row shows (the rest stay zero for both tiers; `total` has them).
SHOWN = ("lookup", "getattr", "setattr", "mknod", "open", "rename", "unlink", "readdir", "mkdir")


def measure(counters: Counters, fn) -> tuple[dict[str, int], float, object]:
    """fn's operations on the mount, its seconds and its result. The counters
    are per clock hour: a phase that straddles the hour is run again."""
    for _ in range(3):
        before = counters.read()
        t = time.perf_counter()
        result = fn()
        dt = time.perf_counter() - t
        after = counters.read()
        delta = {k: after[k] - before[k] for k in OPS}
        if min(delta.values()) >= 0:
            return delta, dt, result
        print("counters rolled over the hour; phase repeated", file=sys.stderr)
    raise RuntimeError("counters kept rolling over")


def count_chunks(root: str) -> int:
    return sum(
        1
        for _, _, fs in os.walk(root)
        for f in fs
        if f.endswith((".kv", ".bin")) and ".tmp" not in f
    )


def run_kind(kind: str, roots: list[str], counters: list[Counters], arr, ref, args) -> dict:
    n, chunk = arr.shape
    view = memoryview(arr)
    keys = [make_offload_key(os.urandom(32), 0) for _ in range(n)]
    ids = np.arange(n, dtype=np.int32)
    ctx = ReqContext("meta")
    out: dict = {}

    def phase(name: str, node: int, fn):
        delta, dt, res = measure(counters[node], fn)
        out[name] = {"ops": delta, "s": dt}
        return res

    tier_a = phase(
        "start", 0, lambda: make_tier(kind, roots[0], view, chunk, args.threads, args.kvtier_opts)
    )
    phase(
        "put",
        0,
        lambda: run_jobs(tier_a, [TransferJob(1, keys, ids, False, ctx)], load=False),
    )
    tier_a.shutdown()
    tier_b = make_tier(kind, roots[1], view, chunk, args.threads, args.kvtier_opts)
    phase("lookup", 1, lambda: wait_all_hit(tier_b, keys, ctx))
    # A new request for the same prefix once kvtier's verdicts have expired
    # (lookup_cache_s, 1 s by default): what a scheduler pays to ask again.
    time.sleep(1.2)
    phase("again", 1, lambda: wait_all_hit(tier_b, keys, ReqContext("meta-again")))
    arr[:] = 0
    phase("get", 1, lambda: run_jobs(tier_b, [TransferJob(2, keys, ids, True, ctx)], load=True))
    if not (arr == ref).all():
        raise SystemExit(f"{kind}: loaded bytes differ")
    tier_b.shutdown()

    # One evictor pass over mount 2 that must delete every chunk: a quota of
    # what is there, started at 1% and run down to 0.
    stored = count_chunks(roots[2])
    if stored != n:
        raise SystemExit(f"{kind}: {stored} chunk files stored, expected {n}")
    cmd = [
        args.kvtier_cli,
        "evict",
        "--once",
        "--quota-bytes",
        str(n * chunk * 2),
        "--high",
        "0.01",
        "--low",
        "0",
        "--min-age",
        "0",
        "--max-delete-rate",
        "0",
        "--port",
        "0",
        roots[2],
    ]
    phase("evict", 2, lambda: subprocess.run(cmd, capture_output=True, check=True, timeout=600))
    left = count_chunks(roots[2])
    out["evicted"] = n - left
    return out


def per_chunk(row: dict, n: int, evicted: int) -> dict:
    res = {}
    for ph in ("put", "lookup", "get", "again", "evict"):
        d = evicted if ph == "evict" else n
        res[ph] = {k: row[ph]["ops"][k] / max(d, 1) for k in OPS}
        res[ph]["ms"] = row[ph]["s"] * 1e3
    res["start"] = {k: row["start"]["ops"][k] for k in OPS}
    return res


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--master", required=True, help="HOST:PORT of the MooseFS master")
    p.add_argument("--mounts", nargs=3, required=True, metavar=("A", "B", "EVICTOR"))
    p.add_argument("--subdir", default="meta", help="directory made under each mount")
    p.add_argument("--kvtier-cli", required=True, help="the kvtier CLI (for `kvtier evict`)")
    p.add_argument("--model", choices=sorted(MODELS), default="llama-3.3-70b-tp8")
    p.add_argument("--chunks", type=int, default=79, help="79: 20,000 tokens of 256")
    p.add_argument("--threads", type=int, default=16)
    p.add_argument("--repeat", type=int, default=1, help="alternating runs per tier")
    p.add_argument("--kvtier-opt", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--label", default="", help="e.g. the delay, copied into the JSON")
    p.add_argument("--json", help="also write the report here")
    args = p.parse_args()
    args.kvtier_opts = {k: json.loads(v) for k, _, v in (o.partition("=") for o in args.kvtier_opt)}
    if not enable_builtin_c_helper():
        raise SystemExit("vllm.fs_io_C could not be loaded")

    chunk = MODELS[args.model]
    buf = mmap.mmap(-1, args.chunks * chunk)
    arr = np.frombuffer(buf, dtype=np.uint8).reshape(args.chunks, chunk)
    arr[:] = np.random.default_rng(0).integers(0, 255, size=arr.shape, dtype=np.uint8)
    ref = arr.copy()
    counters = [Counters(args.master, m) for m in args.mounts]
    runs: dict[str, list[dict]] = {"builtin": [], "kvtier": []}
    for rep in range(args.repeat):
        order = ("builtin", "kvtier") if rep % 2 == 0 else ("kvtier", "builtin")
        for kind in order:
            roots = [os.path.join(m, args.subdir, f"{kind}{rep}") for m in args.mounts]
            shutil.rmtree(roots[0], ignore_errors=True)
            os.makedirs(roots[0])
            row = run_kind(kind, roots, counters, arr, ref, args)
            runs[kind].append(per_chunk(row, args.chunks, row["evicted"]))
            shutil.rmtree(roots[0], ignore_errors=True)

    def median(kind: str, ph: str, k: str) -> float:
        return float(np.median([r[ph][k] for r in runs[kind]]))

    report = {
        "label": args.label,
        "chunks": args.chunks,
        "chunk_bytes": chunk,
        "repeat": args.repeat,
        "kvtier_options": args.kvtier_opts,
        "runs": runs,
    }
    print(f"== {args.label}: {args.chunks} chunks x {chunk >> 20} MiB, median of {args.repeat}")
    print(f"{'':16}" + "".join(f"{c:>9}" for c in (*SHOWN, "total", "ms")))
    for ph in ("put", "get", "lookup", "again", "evict"):
        for kind in ("builtin", "kvtier"):
            cells = [median(kind, ph, k) for k in (*SHOWN, "total", "ms")]
            print(f"{ph + ' ' + kind:16}" + "".join(f"{c:>9.2f}" for c in cells))
    for kind in ("builtin", "kvtier"):
        start = {k: median(kind, "start", k) for k in OPS if median(kind, "start", k)}
        print(f"start {kind}: {start}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
