"""One node of the multi-node system tests: a process that runs vLLM's real
TieringOffloadingManager with kvtier's KvtierTier beneath it, on one mount
of the shared filesystem, driven by one JSON command a line on stdin and
answering one JSON line each on stdout.

Keys are vLLM OffloadKeys (a 32-byte block hash + the group index) of a
named series; every chunk's payload is a function of its key, so any node
can check any hit byte for byte. The key and payload functions import
nothing heavy: the test driver uses them too.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
import traceback
from pathlib import Path

import numpy as np

PAGE = 4096
CHUNK_PAGES = 16  # 64 KiB chunks: many files, little data, fast on 2 cores
CHUNK = CHUNK_PAGES * PAGE


def key(series: str, i: int) -> bytes:
    """vLLM's OffloadKey packing: block hash + group index (4 bytes, big endian)."""
    return hashlib.sha256(f"{series}:{i}".encode()).digest() + (0).to_bytes(4, "big")


def payload(k: bytes) -> bytes:
    return hashlib.shake_256(k).digest(CHUNK)


def chunk_name(k: bytes) -> str:
    """The chunk's file name (docs/FORMAT.md: hex of keys up to 100 bytes)."""
    return k.hex() + ".kv"


def keys_of(series: str, idx: list[int]) -> list[bytes]:
    return [key(series, i) for i in idx]


class Node:
    def __init__(self) -> None:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))
        # vLLM is heavy: imported in the node only, and all of it that the
        # first manager needs, so that writers forked later start at once.
        import vllm.v1.kv_offload.cpu.spec  # noqa: F401
        import vllm_harness
        from vllm.v1.kv_offload.base import LookupResult, make_offload_key

        import kvtier.vllm  # noqa: F401

        self.h = vllm_harness
        self.LR = LookupResult
        assert make_offload_key(b"\x01" * 32, 0) == b"\x01" * 32 + (0).to_bytes(4, "big")
        self.eng = None

    # Commands ------------------------------------------------------------------------
    def open(self, root: str, slots: int = 256, tier: dict | None = None) -> dict:
        self.close()
        opts = {"lookup_cache_s": 0.5, "touch_interval_s": 0.0, **(tier or {})}
        mgr = self.h.make_manager(root, slots=slots, chunk_pages=CHUNK_PAGES, tier=opts)
        self.eng = self.h.Engine(mgr)
        return {"ns": self.eng.tier.store.namespace_dir}

    def close(self) -> dict:
        if self.eng is not None:
            self.eng.shutdown()
            self.eng = None
        return {}

    def store(self, series: str, first: int, n: int, batch: int = 32) -> dict:
        for b in range(first, first + n, batch):
            ks = keys_of(series, list(range(b, min(b + batch, first + n))))
            self.eng.store(ks, [payload(k) for k in ks])
        return {"stats": self.eng.tier.stats()}

    def fetch(self, series: str, idx: list[int], tries: int = 4000) -> dict:
        """A new request for these keys, as the scheduler makes it: look up
        until resolved (promotions from kvtier happen meanwhile), then read
        every HIT out of its CPU slot and compare it with the pattern."""
        ks = keys_of(series, idx)
        self.eng.evict_primary()
        trace: list = []
        final = self.eng.lookup(ks, tries=tries, trace=trace)
        hit = [k for k, r in zip(ks, final) if r is self.LR.HIT]
        data = self.eng.load(hit) if hit else []
        if not hit:
            self.eng.finish_lookup()
        pos = {k: i for k, i in zip(ks, idx)}
        wrong = [pos[k] for k, d in zip(hit, data) if d != payload(k)]
        return {
            "first": [r.name for r in trace[0]],
            "final": [r.name for r in final],
            "rounds": len(trace),
            "exact": len(hit) - len(wrong),
            "wrong": wrong,
        }

    def watch(self, series: str, idx: list[int], seconds: float, every: float = 0.02) -> dict:
        """Ask the tier (kvtier's batched, cached existence check: what vLLM's
        lookup thread calls) about these keys until all are absent or
        ``seconds`` pass. Per key: the wall-clock start of the last check
        that still found it, and the end of the first that did not."""
        ks = keys_of(series, idx)
        seen: dict[int, float] = {}
        gone: dict[int, float] = {}
        end = time.monotonic() + seconds
        while time.monotonic() < end and len(gone) < len(ks):
            start = time.time()
            found = self.eng.tier.store.contains(ks)
            now = time.time()
            for i, there in zip(idx, found):
                if there:
                    seen[i] = start
                elif i not in gone:
                    gone[i] = now
            time.sleep(every)
        return {"seen": seen, "gone": gone}

    def stats(self) -> dict:
        return {"stats": self.eng.tier.stats()}

    def options(self) -> dict:
        from kvtier.vllm import TIER_OPTIONS

        return {"options": sorted(TIER_OPTIONS)}

    def fill_slots(self, value: int) -> dict:
        """Every CPU-tier slot set to ``value``, as if vLLM had handed the
        slots of failed loads to other requests that filled them."""
        self.eng.slots[:] = value
        return {}

    def check_slots(self, value: int) -> dict:
        return {"changed": int(np.count_nonzero(self.eng.slots != value))}

    def drain(self, series: str, idx: list[int], wait: bool = True) -> dict:
        """One load job submitted to the tier (into slots 0..), then (with
        ``wait``) drain_jobs(), which vLLM calls before it reuses the slots."""
        from vllm.v1.kv_offload.base import ReqContext
        from vllm.v1.kv_offload.tiering.base import TransferJob

        ks = keys_of(series, idx)
        ids = np.arange(len(ks), dtype=np.int32)
        tier = self.eng.tier
        tier.submit_load(TransferJob(1 << 40, ks, ids, True, ReqContext("drain")))
        if not wait:
            return {}
        t0 = time.monotonic()
        tier.drain_jobs()
        secs = time.monotonic() - t0
        return {"drain_s": secs, "success": [r.success for r in tier.get_finished_jobs()]}

    def fork_store(self, root: str, series: str, first: int, n: int, batch: int = 8) -> dict:
        """A writer node in a child process (forked so that each of many kills
        does not pay vLLM's import again): opens its own manager and tier on
        ``root`` and stores the series, announcing "storing" and "done"."""
        pid = os.fork()
        if pid == 0:
            try:
                self.eng = None
                self.open(root, slots=64)
                event({"event": "storing", "pid": os.getpid(), "t": time.time()})
                self.store(series, first, n, batch)
                event({"event": "done", "pid": os.getpid()})
            finally:
                os._exit(0)
        return {"pid": pid}

    def reap(self, pid: int) -> dict:
        _, status = os.waitpid(pid, 0)
        return {"signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else 0}


def event(obj: dict) -> None:
    os.write(1, (json.dumps(obj) + "\n").encode())  # one write: lines never interleave


def main() -> None:
    node = Node()
    event({"ok": True, "ready": os.getpid()})
    for line in sys.stdin:
        cmd = json.loads(line)
        name = cmd.pop("cmd")
        if name == "quit":
            node.close()
            event({"ok": True})
            os._exit(0)  # skips torch's slow interpreter teardown (seconds)
        t0 = time.monotonic()
        try:
            out = getattr(node, name)(**cmd)
            event({"ok": True, "secs": round(time.monotonic() - t0, 3), **out})
        except Exception:  # the driver reports it; the node stays up
            event({"ok": False, "error": traceback.format_exc()[-2000:]})


if __name__ == "__main__":
    main()
