"""The seed's workload, scaled down, replayed on two GPUs: two engine
processes (one per GPU) share one kvtier directory.

Groups of requests share a long prefix (50,000 tokens); each request adds
its own question (256 tokens) and generates a short answer. The model is
the Llama-3.1-8B shape with random weights (HF transformers, bf16), the same
on both engines (same seed), so the compute is real and the KV is real.

One engine serves one request at a time on its GPU (HF transformers has no
continuous batching); `--concurrency` requests per engine are in flight in
a closed loop (a request arrives when one of the engine's earlier ones
finishes), so a request waits for the GPU behind the others, and prefix
loads from storage overlap the GPU's work on other requests, as in vLLM.
The request order is a seeded shuffle of all groups' prompts; request i
goes to engine i % 2 (a load-balancing router that ignores prefixes).

Modes, each measured on the same request list:
  none     no offload: every request prefills its whole prompt
  cpu      a CPU-RAM tier per engine: the prefix KV a miss computed stays in
           that engine's pinned host memory; the other engine cannot see it
  kvtier   a shared tier: a miss stores the prefix's full 256-token chunks
           through kvtier (async, after the first token, as vLLM's tier
           does); a request whose prefix chunks are found (lookup at
           arrival and again when the GPU picks it) loads them into pinned
           host memory (checksums verified), copies them to the GPU and
           prefills only the rest. Run once with the directory on
           /dev/shm and once on the local disk.

Per request: TTFT (arrival to first token), GPU-busy seconds (the time the
engine's GPU worker spends on it: copies, prefill, packing, decode), and
the parts. After the /dev/shm run each engine checks, for two groups,
that the chunks it loads equal bit for bit the KV it computes itself, that
the first token's logits on the loaded KV equal those on the KV that never
left the GPU, and compares the tokens generated on each and after a plain
full prefill.

  python3 bench/gpu/replay.py --out DIR            (two GPUs)
  python3 bench/gpu/replay.py --tiny --out DIR     (a tiny model on the CPU: the same logic)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing as mp
import os
import queue
import random
import shutil
import statistics
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

MODES = ("kvtier-shm", "none", "cpu", "kvtier-disk")  # the most wanted first


@dataclass
class Request:
    group: int
    prompt: int
    arrive: float = 0.0
    hit_chunks: int = 0  # prefix chunks taken from a tier (0: a miss)
    load_s: float = 0.0  # storage -> pinned host (kvtier only)
    wait_gpu_s: float = 0.0  # ready to GPU start
    ttft_s: float = 0.0
    gpu_s: float = 0.0  # whole GPU worker time for this request
    h2d_s: float = 0.0
    prefill_s: float = 0.0  # the prefill on the GPU (whole prompt or the rest)
    prefill_tokens: int = 0
    offload_s: float = 0.0  # pack + D2H after the first token (misses)
    decode_s: float = 0.0
    stored: bool = False
    load_failed: bool = False
    buf: Any = field(default=None, repr=False)


def sync(dev) -> float:
    import torch

    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    return time.perf_counter()


class Engine:
    """One engine's model, prompts, chunk keys and pinned staging buffers."""

    def __init__(self, a: argparse.Namespace, rank: int) -> None:
        import torch
        from transformers import LlamaConfig, LlamaForCausalLM

        self.a, self.rank, self.torch = a, rank, torch
        cuda = torch.cuda.is_available() and not a.tiny
        self.dev = torch.device(f"cuda:{rank % torch.cuda.device_count()}" if cuda else "cpu")
        if cuda:
            torch.cuda.set_device(self.dev)
        else:
            torch.set_num_threads(1)  # two engines share the dry run's cores
        torch.manual_seed(0)  # the same weights on both engines
        torch.set_default_dtype(torch.bfloat16)
        if a.tiny:
            shape = dict(
                hidden_size=256,
                intermediate_size=512,
                num_hidden_layers=2,
                num_attention_heads=4,
                num_key_value_heads=2,
                vocab_size=1000,
            )
        else:
            shape = dict(
                hidden_size=4096,
                intermediate_size=14336,
                num_hidden_layers=32,
                num_attention_heads=32,
                num_key_value_heads=8,
                vocab_size=128256,
            )
        self.cfg = LlamaConfig(**shape, max_position_embeddings=131072, rope_theta=500000.0)
        with self.dev:
            self.model = LlamaForCausalLM(self.cfg).eval()
        self.base = self.model.model
        self.layers = self.cfg.num_hidden_layers
        self.heads = self.cfg.num_key_value_heads
        self.dim = self.cfg.hidden_size // self.cfg.num_attention_heads
        self.ct = a.chunk_tokens
        self.n = a.prefix // self.ct  # full chunks only, as vLLM offloads full blocks
        # [chunk][2*layer + k/v][head][token][dim]: one chunk = one contiguous row.
        self.chunk_shape = (2 * self.layers, self.heads, self.ct, self.dim)
        self.chunk_bytes = 2 * self.layers * self.heads * self.ct * self.dim * 2
        self.weights_digest = float(sum(p.float().sum().item() for p in self.model.parameters()))
        self.free: list[Any] = []
        for _ in range(a.buffers):
            self.free.append(
                torch.empty((self.n, self.chunk_bytes), dtype=torch.uint8, pin_memory=cuda)
            )
        self._keys: dict[int, list[bytes]] = {}

    def prompt(self, g: int, p: int):
        """Random token ids: group g's prefix, then prompt p's question."""
        torch = self.torch
        gen = torch.Generator().manual_seed(1_000_003 * (g + 1))
        pre = torch.randint(0, self.cfg.vocab_size, (self.a.prefix,), generator=gen)
        gen.manual_seed(7_919 * (g + 1) + 104_729 * (p + 1))
        q = torch.randint(0, self.cfg.vocab_size, (self.a.question,), generator=gen)
        return torch.cat([pre, q]).view(1, -1).to(self.dev)

    def keys(self, g: int) -> list[bytes]:
        """Chunk keys chained over the token prefix, as an engine derives them."""
        if g not in self._keys:
            ids = self.prompt(g, 0)[0, : self.n * self.ct].cpu().numpy().astype("<i4")
            h, out = b"replay-v1", []
            for c in range(self.n):
                h = hashlib.sha256(h + ids[c * self.ct : (c + 1) * self.ct].tobytes()).digest()
                out.append(h)
            self._keys[g] = out
        return self._keys[g]

    def forward(self, ids, cache):
        h = self.base(ids, past_key_values=cache, use_cache=True).last_hidden_state
        return self.model.lm_head(h[:, -1:]).argmax(-1)  # [1, 1]

    def decode(self, tok, cache, steps: int) -> list[int]:
        toks = [tok]
        for _ in range(steps):
            toks.append(self.forward(toks[-1], cache))
        return self.torch.cat(toks, dim=1)[0].tolist()

    def pack(self, cache, k: int):
        """The first k chunks of the cache's KV as [k, chunk_bytes] uint8 on the GPU."""
        parts = []
        for layer in range(self.layers):
            lay = cache.layers[layer]
            for t in (lay.keys, lay.values):
                x = t[0, :, : k * self.ct, :].reshape(self.heads, k, self.ct, self.dim)
                parts.append(x.permute(1, 0, 2, 3))
        return self.torch.stack(parts, dim=1).contiguous().view(k, -1).view(self.torch.uint8)

    def unpack(self, gpu_rows, k: int):
        from transformers import DynamicCache

        r = gpu_rows.view(self.torch.bfloat16).view(k, *self.chunk_shape)
        cache = DynamicCache()
        for layer in range(self.layers):
            kk = r[:, 2 * layer].permute(1, 0, 2, 3).reshape(1, self.heads, k * self.ct, self.dim)
            vv = (
                r[:, 2 * layer + 1]
                .permute(1, 0, 2, 3)
                .reshape(1, self.heads, k * self.ct, self.dim)
            )
            cache.update(kk.contiguous(), vv.contiguous(), layer)
        return cache


class Poller(threading.Thread):
    """Collects finished store jobs and stamps them as they finish, so load
    times do not depend on when the (busy) GPU worker next looks."""

    def __init__(self, store) -> None:
        super().__init__(daemon=True)
        self.store, self.done, self.stop = store, queue.Queue(), False

    def run(self) -> None:
        while not self.stop:
            # poll returns at once when no job is outstanding: sleep then, or
            # this thread spins on the GIL the engine's launch loop needs.
            got = self.store.poll(timeout_s=0.02)
            for r in got:
                self.done.put((r, time.perf_counter()))
            if not got:
                time.sleep(0.005)


def run_mode(e: Engine, mode: str, reqs: list[Request], store) -> dict:
    """Serve reqs in a closed loop at the engine's concurrency; returns records."""
    a = e.a
    ram: dict[int, Any] = {}  # cpu mode: group -> pinned buffer (kept)
    loads: dict[int, Request] = {}  # kvtier load job -> request
    puts: dict[int, Any] = {}  # kvtier store job -> buffer held until written
    ready: deque[Request] = deque()
    pending = deque(reqs)
    stats = {"stores_dropped_no_buffer": 0, "loads_no_buffer": 0, "relookup_hits": 0}
    poller = Poller(store) if store else None
    if poller:
        poller.start()

    def collect(block: bool) -> None:
        try:
            item = poller.done.get(timeout=1.0) if block else poller.done.get_nowait()
        except queue.Empty:
            return
        while True:
            res, t = item
            if res.job_id in puts:
                e.free.append(puts.pop(res.job_id))
            elif res.job_id in loads:
                r = loads.pop(res.job_id)
                if not all(res.ok):  # a failed chunk: recompute the whole prompt
                    r.load_failed, r.hit_chunks = True, 0
                r.load_s = t - r.load_s
                if r.hit_chunks == 0:
                    e.free.append(r.buf)
                    r.buf = None
                ready.append(r)
            try:
                item = poller.done.get_nowait()
            except queue.Empty:
                return

    def lookup(r: Request) -> int:
        if mode == "cpu":
            return e.n if r.group in ram else 0
        if store is None:
            return 0
        # All or nothing: HF's attention on top of a partial cache takes a
        # masked path slower than a whole prefill, which vLLM's would not.
        return e.n if all(store.contains(e.keys(r.group))) else 0

    def start_load(r: Request, k: int) -> bool:
        if not e.free:
            stats["loads_no_buffer"] += 1
            return False
        r.buf, r.hit_chunks, r.load_s = e.free.pop(), k, time.perf_counter()
        job = store.submit_get(e.keys(r.group)[:k], [r.buf[c] for c in range(k)])
        loads[job] = r
        return True

    def arrive(r: Request) -> None:
        r.arrive = time.perf_counter()
        k = lookup(r)
        if k and mode.startswith("kvtier") and start_load(r, k):
            return
        r.hit_chunks = k if mode == "cpu" else 0
        ready.append(r)

    t_start = time.perf_counter()
    for _ in range(min(a.concurrency, len(pending))):
        arrive(pending.popleft())
    done = 0
    while done < len(reqs):
        if poller:
            collect(block=False)
        if not ready:
            collect(block=True)
            continue
        r = ready.popleft()
        if r.hit_chunks == 0 and mode != "none":
            k = lookup(r)  # the scheduler looks again when it picks the request
            if k:
                stats["relookup_hits"] += 1
                if mode == "cpu":
                    r.hit_chunks = k
                elif start_load(r, k):
                    continue
        serve(e, mode, r, ram, store, puts, stats)
        done += 1
        if pending:
            arrive(pending.popleft())
    while puts:
        collect(block=True)
    if poller:
        poller.stop = True
        poller.join()
    for buf in ram.values():
        e.free.append(buf)
    wall = time.perf_counter() - t_start
    recs = [{k: v for k, v in asdict(r).items() if k != "buf"} for r in reqs]
    return {
        "mode": mode,
        "rank": e.rank,
        "wall_s": wall,
        "requests": recs,
        "stats": stats,
        "store_stats": store.stats() if store else {},
    }


def serve(e: Engine, mode: str, r: Request, ram: dict, store, puts: dict, stats: dict) -> None:
    torch, dev, ct, n = e.torch, e.dev, e.ct, e.n
    ids = e.prompt(r.group, r.prompt)
    t0 = sync(dev)
    r.wait_gpu_s = t0 - r.arrive - r.load_s
    with torch.inference_mode():
        k = r.hit_chunks
        if k:
            src = ram[r.group] if mode == "cpu" else r.buf
            rows = src[:k].to(dev, non_blocking=True)
            cache = e.unpack(rows, k)
            del rows
            if mode != "cpu":
                e.free.append(r.buf)
                r.buf = None
        else:
            from transformers import DynamicCache

            cache = DynamicCache()
        t1 = sync(dev)
        r.h2d_s = t1 - t0
        tok = e.forward(ids[:, k * ct :], cache)
        t2 = sync(dev)
        r.prefill_s, r.prefill_tokens = t2 - t1, ids.shape[1] - k * ct
        r.ttft_s = t2 - r.arrive
        if k < n and mode != "none":
            if e.free:
                buf = e.free.pop()
                buf[:n].copy_(e.pack(cache, n))
                sync(dev)
                r.stored = True
                if mode == "cpu":
                    ram[r.group] = buf
                else:
                    job = store.submit_put(e.keys(r.group)[k:n], [buf[c] for c in range(k, n)])
                    puts[job] = buf
            else:
                stats["stores_dropped_no_buffer"] += 1
        t3 = sync(dev)
        r.offload_s = t3 - t2
        e.decode(tok, cache, e.a.output - 1)
        del cache
        t4 = sync(dev)
        r.decode_s, r.gpu_s = t4 - t3, t4 - t0


def check(e: Engine, store, groups: list[int]) -> list[dict]:
    """Loaded chunks vs locally computed KV, and the tokens generated on each."""
    torch, n, ct, out = e.torch, e.n, e.ct, []
    for g in groups:
        ids = e.prompt(g, 1)
        buf = e.free.pop()
        ok = store.wait(store.submit_get(e.keys(g), [buf[c] for c in range(n)]))
        res: dict = {"group": g, "loaded_verified": bool(ok and all(ok))}
        with torch.inference_mode():
            from transformers import DynamicCache

            cache = DynamicCache()
            tok = e.forward(ids, cache)
            local = e.pack(cache, n)
            res["kv_bitwise_equal_to_local"] = bool(torch.equal(local, buf.to(e.dev)))
            miss = e.decode(tok, cache, e.a.output - 1)
            del cache
            gpu_cache = e.unpack(local, n)  # the KV that never left the GPU
            del local
            ref = e.decode(e.forward(ids[:, n * ct :], gpu_cache), gpu_cache, e.a.output - 1)
            del gpu_cache
            hit_cache = e.unpack(buf.to(e.dev), n)
            hit = e.decode(e.forward(ids[:, n * ct :], hit_cache), hit_cache, e.a.output - 1)
            del hit_cache
            # The first token's logits, bit for bit: loaded KV vs KV that never left.
            logits = []
            for rows in (buf.to(e.dev), e.pack(ref_cache_src(e, ids), n)):
                c = e.unpack(rows, n)
                h = e.base(ids[:, n * ct :], past_key_values=c, use_cache=True).last_hidden_state
                logits.append(e.model.lm_head(h[:, -1:]))
                del c, rows
            res["first_logits_bitwise_equal"] = bool(torch.equal(*logits))
        e.free.append(buf)
        res.update(
            tokens_hit=hit,
            tokens_on_gpu_kv=ref,
            tokens_full_prefill=miss,
            hit_equals_gpu_kv=hit == ref,
            hit_equals_full_prefill=hit == miss,
        )
        out.append(res)
    return out


def ref_cache_src(e: Engine, ids):
    """A fresh full prefill's cache (for the bitwise logits check)."""
    from transformers import DynamicCache

    c = DynamicCache()
    e.forward(ids, c)
    return c


def decode_bench(e: Engine, batches: tuple[int, ...] = (1, 4), steps: int = 12) -> dict:
    """Decode step time with the whole prompt in the cache, at several batch sizes."""
    res = {}
    torch = e.torch
    from transformers import DynamicCache

    with torch.inference_mode():
        ids = e.prompt(0, 0)
        cache = DynamicCache()
        tok = e.forward(ids, cache)
        kv = [(lay.keys, lay.values) for lay in cache.layers]
        del cache
        for b in batches:
            c = DynamicCache()
            for i, (k, v) in enumerate(kv):
                c.update(
                    k.expand(b, -1, -1, -1).contiguous(), v.expand(b, -1, -1, -1).contiguous(), i
                )
            t = e.forward(tok.expand(b, 1).contiguous(), c)  # warm this batch size
            t0 = sync(e.dev)
            for _ in range(steps):
                t = e.forward(t, c)
            res[str(b)] = (sync(e.dev) - t0) / steps
            del c
    return res


def engine_main(a: argparse.Namespace, rank: int, barrier, results) -> None:
    import kvtier

    try:
        e = Engine(a, rank)
        reqs_all = plan(a)
        mine = [r for i, r in enumerate(reqs_all) if i % 2 == rank]
        # Warm the kernels: a full prefill, a pack/unpack, a suffix prefill, decode.
        with e.torch.inference_mode():
            from transformers import DynamicCache

            ids = e.prompt(a.groups, 0)
            c = DynamicCache()
            e.decode(e.forward(ids, c), c, 2)
            rows = e.pack(c, e.n)
            c2 = e.unpack(rows, e.n)
            e.decode(e.forward(ids[:, e.n * e.ct :], c2), c2, 2)
            del c, c2, rows
        info = {
            "rank": rank,
            "device": str(e.dev),
            "weights_digest": e.weights_digest,
            "chunk_bytes": e.chunk_bytes,
            "chunks": e.n,
        }
        if e.dev.type == "cuda":
            info["gpu"] = e.torch.cuda.get_device_name(e.dev)
        if rank == 0:
            info["decode_step_s"] = decode_bench(e)
        results.put(("info", info))
        for mode in a.modes:
            root = {"kvtier-shm": a.shm_root, "kvtier-disk": a.disk_root}.get(mode)
            reqs = [Request(g, p) for g, p in mine]
            if mode == "kvtier-disk":
                reqs = reqs[: a.disk_requests]
            if root and rank == 0:
                shutil.rmtree(root, ignore_errors=True)
                os.makedirs(root)
            barrier.wait()
            store = None
            if root:
                fp = {
                    "model": "llama-3.1-8b-shape-random",
                    "kv_dtype": "bfloat16",
                    "chunk_tokens": e.ct,
                    "replay": "v1",
                    "tiny": a.tiny,
                }
                store = kvtier.Store(
                    root,
                    fp,
                    read_threads=a.threads,
                    write_threads=a.threads,
                    chunk_bytes=e.chunk_bytes,
                    max_queued_write_bytes=a.buffers * e.n * e.chunk_bytes,
                )
            barrier.wait()
            res = run_mode(e, mode, reqs, store)
            if store:
                res["io_backend"] = store.io_backend
                res["direct_io"] = [store.load_direct_io, store.store_direct_io]  # loads, stores
            barrier.wait()  # both engines finished: every chunk is in place
            if store and mode == "kvtier-shm":
                res["check"] = check(e, store, list(range(min(2, a.groups))))
            if store:
                store.close()
            results.put(("mode", res))
            barrier.wait()
            if root and rank == 0:
                shutil.rmtree(root, ignore_errors=True)
    except BaseException as ex:  # report, and let the other engine's barrier break
        results.put(("error", {"rank": rank, "error": repr(ex)}))
        barrier.abort()
        raise


def plan(a: argparse.Namespace) -> list[tuple[int, int]]:
    reqs = [(g, p) for g in range(a.groups) for p in range(a.prompts)]
    random.Random(a.seed).shuffle(reqs)
    return reqs


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))] if xs else float("nan")


def summarize(mode_results: list[dict], ct: int, chunk_bytes: int, output: int) -> dict:
    recs = [r for m in mode_results for r in m["requests"]]
    hits = [r for r in recs if r["hit_chunks"] > 0]
    misses = [r for r in recs if r["hit_chunks"] == 0]
    cached = sum(r["hit_chunks"] * ct for r in recs)
    med = statistics.median
    return {
        "requests": len(recs),
        "hit_rate": len(hits) / len(recs),
        "token_hit_rate": cached / sum(r["prefill_tokens"] + r["hit_chunks"] * ct for r in recs),
        "miss_prefill_s_p50": med(r["prefill_s"] for r in misses) if misses else None,
        "hit_prefill_s_p50": med(r["prefill_s"] for r in hits) if hits else None,
        "hit_h2d_s_p50": med(r["h2d_s"] for r in hits) if hits else None,
        "miss_offload_s_p50": med(r["offload_s"] for r in misses) if misses else None,
        "decode_s_per_token_p50": med(r["decode_s"] / max(1, output - 1) for r in recs),
        "load_GBps_p50": med(
            r["hit_chunks"] * chunk_bytes / 1e9 / r["load_s"] for r in hits if r["load_s"] > 0
        )
        if any(r["load_s"] > 0 for r in hits)
        else None,
        "ttft_p50_s": pct([r["ttft_s"] for r in recs], 0.5),
        "ttft_p90_s": pct([r["ttft_s"] for r in recs], 0.9),
        "ttft_mean_s": statistics.fmean(r["ttft_s"] for r in recs),
        "gpu_s_per_request": statistics.fmean(r["gpu_s"] for r in recs),
        "prefill_tokens_per_request": statistics.fmean(r["prefill_tokens"] for r in recs),
        "load_s_p50_hits": pct([r["load_s"] for r in hits], 0.5) if hits else 0.0,
        "wall_s": max(m["wall_s"] for m in mode_results),
        "load_failures": sum(r["load_failed"] for r in recs),
        "stores": sum(r["stored"] for r in recs),
    }


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--groups", type=int, default=4)
    p.add_argument("--prompts", type=int, default=10)
    p.add_argument("--prefix", type=int, default=50000)
    p.add_argument("--question", type=int, default=256)
    p.add_argument("--output", type=int, default=16, help="generated tokens per request")
    p.add_argument("--concurrency", type=int, default=3, help="requests in flight per engine")
    p.add_argument("--chunk-tokens", type=int, default=256)
    p.add_argument("--threads", type=int, default=16)
    p.add_argument("--buffers", type=int, default=5, help="pinned prefix buffers per engine")
    p.add_argument("--disk-requests", type=int, default=8, help="requests per engine on disk")
    p.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    p.add_argument("--shm-root", default="/dev/shm/kvtier-replay")
    p.add_argument("--disk-root", default="/var/tmp/kvtier-replay")
    p.add_argument("--seed", type=int, default=12)
    p.add_argument("--tiny", action="store_true", help="a tiny model on the CPU (dry run)")
    p.add_argument("--out", required=True)
    a = p.parse_args()
    if a.tiny:
        a.prefix, a.question, a.output = min(a.prefix, 2000), min(a.question, 32), min(a.output, 4)
    os.makedirs(a.out, exist_ok=True)
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=engine_main, args=(a, r, barrier, results)) for r in range(2)]
    for pr in procs:
        pr.start()
    out: dict = {"args": vars(a), "info": [], "modes": {}, "errors": []}
    raw: dict[str, list[dict]] = {}
    expect = 2 + 2 * len(a.modes)
    while expect and any(pr.is_alive() for pr in procs) or not results.empty():
        try:
            kind, body = results.get(timeout=5)
        except queue.Empty:
            continue
        expect -= 1
        if kind == "info":
            out["info"].append(body)
        elif kind == "error":
            out["errors"].append(body)
            print("engine error:", body, flush=True)
        else:
            raw.setdefault(body["mode"], []).append(body)
            print(
                f"{body['mode']} rank {body['rank']}: {len(body['requests'])} requests "
                f"in {body['wall_s']:.1f} s",
                flush=True,
            )
            if len(raw[body["mode"]]) == 2:  # both engines: write what we have so far
                cb = out["info"][0]["chunk_bytes"]
                res = sorted(raw[body["mode"]], key=lambda m: m["rank"])
                summary = summarize(res, a.chunk_tokens, cb, a.output)
                out["modes"][body["mode"]] = {"summary": summary, "engines": res}
                write(a.out, out)
    for pr in procs:
        pr.join()
    print(write(a.out, out))
    if out["errors"] or len(out["modes"]) != len(a.modes):
        raise SystemExit(1)


def write(out_dir: str, out: dict) -> str:
    with open(os.path.join(out_dir, "replay.json"), "w") as f:
        json.dump(out, f, indent=1)
    table = render(out)
    with open(os.path.join(out_dir, "replay.txt"), "w") as f:
        f.write(table)
    return table


def render(out: dict) -> str:
    lines = [
        "| mode | requests | hit rate | TTFT p50 s | TTFT p90 s | GPU-busy s/request | wall s |",
        "|---|---|---|---|---|---|---|",
    ]
    for mode, m in out["modes"].items():
        s = m["summary"]
        lines.append(
            f"| {mode} | {s['requests']} | {s['hit_rate']:.2f} | {s['ttft_p50_s']:.2f} | "
            f"{s['ttft_p90_s']:.2f} | {s['gpu_s_per_request']:.2f} | {s['wall_s']:.1f} |"
        )
    for mode, m in out["modes"].items():
        for eng in m["engines"]:
            for c in eng.get("check", []):
                lines.append(
                    f"check {mode} rank {eng['rank']} group {c['group']}: verified="
                    f"{c['loaded_verified']} kv_equal={c['kv_bitwise_equal_to_local']} "
                    f"hit==gpu_kv {c['hit_equals_gpu_kv']} "
                    f"hit==full {c['hit_equals_full_prefill']} "
                    f"first logits equal {c['first_logits_bitwise_equal']}"
                )
    for i in out["info"]:
        name = i.get("gpu", i["device"])
        lines.append(
            f"engine {i['rank']}: {name} weights {i['weights_digest']:.6g}"
            + (f" decode step s {i['decode_step_s']}" if "decode_step_s" in i else "")
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
