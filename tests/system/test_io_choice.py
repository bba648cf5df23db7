"""The store's `auto` I/O choice on a FUSE mount (MooseFS): loads with
O_DIRECT (through io_uring where the kernel offers it) in 2 MiB segments;
stores with O_DIRECT only while a round trip to the server is short (under
0.5 ms), else buffered, as measured in bench/RESULTS.md; explicit options
apply to both directions. Chunks stored with one choice load byte for byte
with every other, across mounts (nodes)."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
from dfs import moosefs

import kvtier

FP = {"model": "system/io-choice"}
CHUNK = (1 << 20) + 12345  # not a multiple of 4 KiB: the O_DIRECT tail path too


def aligned(n: int) -> np.ndarray:
    """A 4 KiB-aligned buffer, like vLLM's slots (O_DIRECT needs it unstaged)."""
    raw = np.zeros(n + 4096, np.uint8)
    off = (-raw.ctypes.data) % 4096
    return raw[off : off + n]


def uring_available(root) -> bool:
    try:
        with kvtier.Store(str(root), FP, io_backend="io_uring"):
            return True
    except RuntimeError:
        return False


def round_trip_s(d) -> float:
    """The least of lookups of missing names (each asks the master), spread
    out as the store's probe spreads them."""
    best = float("inf")
    gap = 0.002
    for i in range(12):
        t0 = time.perf_counter()
        assert not os.path.exists(d / f"missing-{i}")
        best = min(best, time.perf_counter() - t0)
        time.sleep(gap)
        gap = min(2 * gap, 0.064)
    return best


def test_auto_on_fuse_without_delay_loads_direct_and_stores_direct(dfs_cluster):
    m = dfs_cluster.mounts
    (m[0] / "auto").mkdir()
    with kvtier.Store(str(m[0] / "auto"), FP) as s:
        assert s.load_direct_io is True
        want = "io_uring" if uring_available(m[0] / "auto") else "threadpool"
        assert s.io_backend == want
        # Loads in 2 MiB segments (FUSE caps requests in flight, not bytes),
        # stores in the default 512 KiB.
        assert s.stats()["segment_bytes"] == 2 << 20
        assert s.stats()["store_segment_bytes"] == 512 << 10
        # The server is on this machine: a lookup takes ~0.1 ms. The store
        # takes the least of up to 16 lookups spread over 500 ms, so only a
        # machine loaded enough to delay every one past 0.5 ms stores buffered.
        assert s.store_direct_io is True or round_trip_s(m[0] / "auto") > 0.2e-3


def test_auto_on_fuse_half_a_millisecond_away_stores_buffered(tmp_path):
    with moosefs(tmp_path / "dfs", mounts=1, delay_ms=0.5) as c:
        root = c.mounts[0] / "auto"
        root.mkdir()
        with kvtier.Store(str(root), FP) as s:
            assert s.load_direct_io is True
            assert s.store_direct_io is False  # a round trip is >= 1 ms by construction
            data = np.arange(CHUNK, dtype=np.uint64).astype(np.uint8)
            assert s.put(b"k", data)
            out = aligned(CHUNK)
            assert s.get(b"k", out)
            assert np.array_equal(out, data)


@pytest.mark.parametrize(
    "writer,reader",
    [
        ({}, {}),
        ({"direct_io": True}, {"direct_io": False, "io_backend": "threadpool"}),
        ({"direct_io": False}, {"direct_io": True, "io_backend": "threadpool"}),
        ({}, {"direct_io": False, "io_backend": "io_uring"}),
    ],
    ids=["auto-auto", "direct-buffered", "buffered-direct", "auto-uring-buffered"],
)
def test_chunks_cross_mounts_and_choices_byte_for_byte(dfs_cluster, writer, reader, request):
    m = dfs_cluster.mounts
    sub = request.node.callspec.id
    (m[0] / sub).mkdir()
    if reader.get("io_backend") == "io_uring" and not uring_available(m[0] / sub):
        pytest.skip("io_uring is not available on this kernel")
    rng = np.random.default_rng(7)
    data = [rng.integers(0, 256, CHUNK, dtype=np.uint8) for _ in range(6)]
    keys = [f"{sub}-{i}".encode() for i in range(len(data))]
    with kvtier.Store(str(m[0] / sub), FP, **writer) as w:
        if "direct_io" in writer:
            assert w.store_direct_io is writer["direct_io"]
            assert w.load_direct_io is writer["direct_io"]
        src = [aligned(CHUNK) for _ in data]
        for buf, d in zip(src, data):
            buf[:] = d
        assert w.wait(w.submit_put(keys, src)) == [True] * len(keys)
    with kvtier.Store(str(m[1] / sub), FP, **reader) as r:
        if "direct_io" in reader:
            assert r.load_direct_io is reader["direct_io"]
            assert r.store_direct_io is reader["direct_io"]
        assert r.io_backend == reader.get("io_backend", r.io_backend)
        out = [aligned(CHUNK) for _ in data]
        assert r.wait(r.submit_get(keys, out)) == [True] * len(keys)
        for o, d in zip(out, data):
            assert np.array_equal(o, d)
        # A misaligned buffer cannot take O_DIRECT unstaged; it still loads.
        odd = np.zeros(CHUNK + 1, np.uint8)[1:]
        assert r.get(keys[0], odd)
        assert np.array_equal(odd, data[0])
