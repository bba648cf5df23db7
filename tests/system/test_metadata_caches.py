"""kvtier's lookup caches stay correct across nodes, within their documented
bounds, on a MooseFS cluster with three mounts (three nodes, each with its
own filesystem client):

  verdicts       an existence verdict is reused for at most lookup_cache_s,
                 positive or negative: a chunk stored on node A is a HIT on
                 node B, and one deleted on node C a MISS on B, within it
  leaf handles   B stats through held leaf directory handles; one is reused
                 for at most LEAF_HANDLE_TTL_S (kLeafHandleTtlNs in
                 src/store/store_impl.cc), which bounds how late B sees a
                 chunk stored into a leaf that C removed and A re-created

Each change is first shown to be stale on B (the cache is really in use),
then B must see it within the bound."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest

kvtier = pytest.importorskip("kvtier")

VERDICT_S = 3.0  # B's lookup_cache_s
LEAF_HANDLE_TTL_S = 10.0
SLACK_S = 1.5  # a loaded 2-core machine: polling and scheduling


def chunk_file(mount: Path, ns: str, key: bytes) -> Path:
    """The key's chunk file as seen through `mount` (found by name: the
    fan-out directories come from a hash the test does not recompute)."""
    name = key.hex() + ".kv"
    for d, _, files in os.walk(mount / "mc" / ns):
        if name in files:
            return Path(d) / name
    raise AssertionError(f"{name} not found under {mount}")


def still_cached(store, key: bytes, stale: bool, since: float) -> None:
    """B still answers `stale` from its verdict cache, when asked well within
    VERDICT_S of caching it (a machine too loaded to ask in time proves
    nothing either way, so the check is left out then)."""
    if time.monotonic() - since < 0.7 * VERDICT_S:
        assert store.contains([key]) == [stale], "B did not reuse its verdict"


def seen_within(store, key: bytes, want: bool, bound_s: float) -> float:
    """Seconds until store.contains says `want` for key; fails past bound_s."""
    t0 = time.monotonic()
    while store.contains([key])[0] != want:
        elapsed = time.monotonic() - t0
        assert elapsed < bound_s, f"contains({key!r}) still {not want} after {elapsed:.2f} s"
        time.sleep(0.05)
    return time.monotonic() - t0


@pytest.fixture
def nodes(dfs_cluster, request):
    fp = {"model": f"system/metadata-caches-{request.node.name}", "kv_dtype": "bfloat16"}
    m = dfs_cluster.mounts
    for mount in m:
        (mount / "mc").mkdir(exist_ok=True)
    stores = [
        kvtier.Store(str(m[0] / "mc"), fp, lookup_cache_s=VERDICT_S),
        kvtier.Store(str(m[1] / "mc"), fp, lookup_cache_s=VERDICT_S),
        kvtier.Store(str(m[2] / "mc"), fp, lookup_cache_s=VERDICT_S),
    ]
    ns = os.path.basename(stores[0].namespace_dir)
    yield stores, ns, m
    for s in stores:
        s.close()


def test_stored_on_a_is_a_hit_on_b_and_deleted_on_c_a_miss_within_the_bound(nodes):
    (a, b, _), ns, m = nodes
    data = np.arange(64 << 10, dtype=np.uint8)
    key = b"metadata-cache-key-1"

    cached = time.monotonic()
    assert b.contains([key]) == [False]  # a negative verdict, now cached on B
    assert a.put(key, data)
    still_cached(b, key, False, cached)
    hit_s = seen_within(b, key, True, VERDICT_S + SLACK_S)

    out = np.empty_like(data)
    assert b.get(key, out) and (out == data).all()
    cached = time.monotonic()
    assert b.contains([key]) == [True]  # a positive verdict, and B holds the leaf
    chunk_file(m[2], ns, key).unlink()  # node C deletes it, as the evictor does
    still_cached(b, key, True, cached)
    miss_s = seen_within(b, key, False, VERDICT_S + SLACK_S)
    assert not b.get(key, out)  # never bytes of a deleted chunk

    # Stored again into the same leaf, which B still holds open.
    assert a.put(key, data)
    again_s = seen_within(b, key, True, VERDICT_S + SLACK_S)
    print(
        f"B saw: A's store after {hit_s:.2f} s, C's delete after {miss_s:.2f} s, "
        f"the store again after {again_s:.2f} s (bound {VERDICT_S} s)"
    )


def test_a_leaf_removed_on_c_and_recreated_on_a_is_seen_on_b_within_the_handle_bound(nodes):
    (a, b, _), ns, m = nodes
    data = np.full(4096, 7, dtype=np.uint8)
    key = b"metadata-cache-key-2"
    assert a.put(key, data)
    assert b.contains([key]) == [True]  # B now holds the leaf open

    # Node C empties the leaf and removes it (the evictor's --dir-grace path);
    # node A stores the chunk again, which creates a new leaf of that name.
    f = chunk_file(m[2], ns, key)
    f.unlink()
    f.parent.rmdir()
    seen_within(b, key, False, VERDICT_S + SLACK_S)
    assert a.put(key, data)
    assert chunk_file(m[1], ns, key).exists()

    took = seen_within(b, key, True, LEAF_HANDLE_TTL_S + VERDICT_S + SLACK_S)
    out = np.empty_like(data)
    assert b.get(key, out) and (out == data).all()
    print(f"B saw the chunk in the re-created leaf after {took:.2f} s")
