"""A stalled or vanished mount never hangs the engine and never corrupts a
CPU slot: a vLLM node (real TieringOffloadingManager + KvtierTier, its own
process on mount 1) loads chunks another process wrote through mount 0
while the chunkservers are SIGSTOPped, then after its FUSE client is killed."""

from __future__ import annotations

import errno
import os
import signal
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from node_driver import NodeProc  # noqa: E402

IO_TIMEOUT_S = 2.0
BOUND_S = 1.5  # scheduling slack on a loaded 2-core machine
N = 16
PATTERN = 0x5A


@pytest.fixture(scope="module")
def node(dfs_cluster, tmp_path_factory):
    b = NodeProc("B", Path(dfs_cluster.mounts[1]), tmp_path_factory.mktemp("logs"))
    try:
        assert "ready" in b.reply(timeout=300)
        if "io_timeout_s" not in b.call("options")["options"]:
            pytest.skip("the tier has no io_timeout_s option")
        # The chunks come from another process through mount 0, so that
        # mount 1 has none of them cached: its reads go to the chunkservers.
        root = str(Path(dfs_cluster.mounts[0]) / "kv")
        for series in ("stall", "stall2"):  # one series per test that reads
            pid = b.call("fork_store", root=root, series=series, first=0, n=N, batch=8)["pid"]
            assert b.event("done", pid, timeout=120) is not None
            assert b.call("reap", pid=pid)["signal"] == 0
        b.open("kv", tier={"io_timeout_s": IO_TIMEOUT_S})
        yield b
    finally:
        b.stop()


def stats(node: NodeProc) -> dict:
    return node.call("stats")["stats"]


def test_stalled_chunkservers_fail_loads_in_time_and_never_touch_a_slot(node, dfs_cluster):
    idx = list(range(N))
    with dfs_cluster.stopped(dfs_cluster.chunkserver_pids):
        # The scheduler's path: lookups answer (metadata is the master's),
        # the promotions' reads block; at the deadline they fail and vLLM
        # hears MISS (it recomputes).
        r = node.call("fetch", series="stall", idx=idx[: N // 2], timeout=120)
        assert r["final"] == ["MISS"] * (N // 2) and r["wrong"] == []
        assert r["secs"] <= IO_TIMEOUT_S + BOUND_S, r["secs"]
        # drain_jobs() returns too, with the job failed.
        d = node.call("drain", series="stall", idx=idx[N // 2 :], timeout=120)
        assert d["success"] == [False] and d["drain_s"] <= IO_TIMEOUT_S + BOUND_S, d
        st = stats(node)
        assert st["io_timeouts_total.get"] >= N, st
        assert st["stalled_workers"] >= 1, st  # reads still blocked in the kernel
        # vLLM may now give those slots to other requests.
        node.call("fill_slots", value=PATTERN)
    # The blocked reads come back after SIGCONT, past their deadline: their
    # bytes must go nowhere near the slots.
    deadline = time.monotonic() + 120
    while (st := stats(node))["stalled_workers"] or not st["late_completions_total"]:
        assert time.monotonic() < deadline, st
        time.sleep(0.2)
    st = {k: v for k, v in st.items() if "late" in k or "timeout" in k}
    print(f"stalled: fetch {r['secs']} s, drain {d['drain_s']:.3f} s; late reads {st}")
    assert node.call("check_slots", value=PATTERN)["changed"] == 0
    # The mount answers again: every chunk hits, exact.
    time.sleep(0.6)  # the failed loads' miss verdicts (lookup_cache_s 0.5) expire
    r = node.call("fetch", series="stall", idx=idx)
    assert r["final"] == ["HIT"] * N and r["exact"] == N, r


def test_shutdown_returns_while_the_chunkservers_are_stopped(node, dfs_cluster):
    with dfs_cluster.stopped(dfs_cluster.chunkserver_pids):
        node.call("drain", series="stall2", idx=list(range(N)), wait=False)
        deadline = time.monotonic() + IO_TIMEOUT_S / 2
        while stats(node)["pending_jobs"] != 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert stats(node)["pending_jobs"] == 1  # blocked in the kernel
        # vLLM shuts down meanwhile.
        secs = node.call("close", timeout=120)["secs"]
        print(f"shutdown with a load blocked: {secs} s")
        assert secs <= IO_TIMEOUT_S + BOUND_S, secs


def test_vanished_mount_gives_misses_not_a_hang(node, dfs_cluster):
    """Last in this module: mount 1 stays dead until the cluster goes down."""
    node.open("kv", tier={"io_timeout_s": IO_TIMEOUT_S})
    os.kill(dfs_cluster.mount_pids[1], signal.SIGKILL)
    deadline = time.monotonic() + 10
    while True:
        try:
            os.stat(dfs_cluster.mounts[1])
        except OSError as e:
            assert e.errno == errno.ENOTCONN, e
            break
        assert time.monotonic() < deadline, "mount 1 still answers"
        time.sleep(0.05)
    r = node.call("fetch", series="stall2", idx=list(range(N)), timeout=120)
    assert r["final"] == ["MISS"] * N and r["wrong"] == []
    assert r["secs"] <= IO_TIMEOUT_S + BOUND_S, r["secs"]
    secs = node.call("close", timeout=120)["secs"]
    print(f"mount gone: fetch {r['secs']} s, shutdown {secs} s")
    assert secs <= IO_TIMEOUT_S + BOUND_S, secs
