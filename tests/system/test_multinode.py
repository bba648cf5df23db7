"""Several nodes on one distributed filesystem (MooseFS, tools/dfs.sh): each
node is its own OS process on its own FUSE mount running vLLM's real
TieringOffloadingManager with KvtierTier beneath it (tests/system/kv_node.py);
the real kvtier-evictor and `kvtier verify` run on a third mount."""

from __future__ import annotations

import json
import math
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from kv_node import CHUNK, chunk_name, key  # noqa: E402
from node_driver import CLI, EVICTOR, Evictor, NodeProc, allocated, files, is_temp, need  # noqa: E402

PREFIX = 120  # chunks of the shared prefix (64 KiB each)
LOOKUP_CACHE_S = 0.5  # the nodes' lookup_cache_s (kv_node.Node.open)
FILE_BYTES = CHUNK + 4096  # header + payload, allocated exactly on MooseFS

# Series written to the shared root "kv": name -> number of keys (0..n-1).
WRITTEN: dict[str, int] = {}


class Nodes:
    """Node A on mount 0, node B on mount 1; mount 2 is the evictor's."""

    def __init__(self, mounts: list[Path], logs: Path) -> None:
        self.mounts, self.logs = mounts, logs
        self.a = self.b = None
        self.start()

    def start(self) -> None:
        self.a = NodeProc("A", self.mounts[0], self.logs)
        self.b = NodeProc("B", self.mounts[1], self.logs)
        for n in (self.a, self.b):  # both import vLLM at once
            assert "ready" in n.reply(timeout=300)

    def stop(self) -> None:
        for n in (self.a, self.b):
            if n is not None:
                n.stop()


# Fixtures ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def mounts(dfs_cluster) -> list[Path]:
    m = [Path(p) for p in dfs_cluster.mounts]
    assert len(m) >= 3
    return m


@pytest.fixture(scope="module")
def nodes(mounts, tmp_path_factory):
    n = Nodes(mounts, tmp_path_factory.mktemp("logs"))
    try:
        yield n
    finally:
        n.stop()


@pytest.fixture(scope="module")
def prefix(nodes) -> int:
    """Node A stores a prefix of PREFIX chunks under the shared root "kv"."""
    nodes.a.open("kv")
    st = nodes.a.call("store", series="prefix", first=0, n=PREFIX)["stats"]
    assert st["puts_stored_total"] + st["puts_existing_total"] == PREFIX, st
    WRITTEN["prefix"] = PREFIX
    return PREFIX


# Tests -------------------------------------------------------------------------


def test_prefix_stored_on_a_is_looked_up_and_loaded_on_b(nodes, prefix, mounts):
    on_b = files(mounts[1] / "kv")
    assert all(chunk_name(key("prefix", i)) in on_b for i in range(prefix))
    nodes.b.open("kv")
    r = nodes.b.call("fetch", series="prefix", idx=list(range(prefix)))
    # The tier's lookups are asynchronous: vLLM first hears RETRY for every
    # key, then (after kvtier's batched check and the promotion) HIT.
    assert r["first"] == ["RETRY"] * prefix, r["first"]
    assert r["final"] == ["HIT"] * prefix, r["final"]
    assert r["wrong"] == [] and r["exact"] == prefix
    st = nodes.b.call("stats")["stats"]
    assert st["get_hits_total"] >= prefix and st["puts_stored_total"] == 0


def test_evictor_keeps_overfilled_cache_under_its_marks_while_b_loads(nodes, mounts):
    need(EVICTOR)
    quota, high, low = 8 << 20, 0.8, 0.5
    per_quota = quota // FILE_BYTES
    fill = int(per_quota * 2.5)
    hot = list(range(24))
    nodes.a.open("evict")
    nodes.b.open("evict")
    nodes.a.call("store", series="hot", first=0, n=len(hot))

    def over_high() -> int:
        """Chunks that take usage from where it is to over the high mark."""
        below = high * quota - allocated(mounts[2] / "evict")
        return max(0, math.ceil(below / FILE_BYTES)) + 2

    flags = (
        *("--quota-bytes", str(quota), "--high", str(high), "--low", str(low)),
        *("--poll-interval", "250ms", "--min-age", "0", "--max-delete-rate", "0"),
    )
    ev = Evictor(mounts[2] / "evict", nodes.logs, *flags)
    try:
        # A overfills the quota 2.5 times while B keeps loading: hot keys it
        # reads over and over, and any of A's keys, written or not, kept or
        # evicted. Every hit is exact; the rest are misses.
        rng = random.Random(11)
        nodes.a.send("store", series="fill", first=0, n=fill, batch=16)
        fetched = hits = 0
        while nodes.a.reply(timeout=0) is None:
            for series, idx in (("hot", hot), ("fill", rng.sample(range(fill), 24))):
                r = nodes.b.call("fetch", series=series, idx=idx)
                assert r["wrong"] == [], f"B read wrong bytes for {series} {r['wrong']}"
                fetched += len(idx)
                hits += r["exact"]
        print(f"B during the overfill: {hits} exact hits of {fetched} chunks fetched")
        assert 0 < hits < fetched, (hits, fetched)
        assert (len(hot) + fill) * FILE_BYTES > 2 * quota  # overfilled
        assert any(r["msg"] == "high watermark reached" for r in ev.lines())
        ev.stop()
        # Usage returns under the low mark. The daemon measures usage when it
        # scans, so chunks written during its last round may leave usage a
        # little over the low mark, between the marks, where it rightly
        # rests (hysteresis). So, with no writer racing it: A takes usage
        # over the high mark, and one pass of the same evictor must bring it
        # under the low one.
        nodes.a.call("store", series="top", first=0, n=over_high())
        once = Evictor(mounts[2] / "evict", nodes.logs, *flags, "--once")
        once.wait()
        used = allocated(mounts[2] / "evict")
        assert used <= low * quota + 4096, (used, low * quota)  # + fingerprint.json
        evicted = len(ev.named("evicted")) + len(once.named("evicted"))
        assert evicted >= fill - per_quota, evicted

        # A key the evictor removes is a miss on B within lookup_cache_s:
        # B asks about every chunk still there while A's second wave pushes
        # usage over the high mark again and the oldest of them go.
        present = set(files(mounts[2] / "evict"))
        names = {chunk_name(key("fill", i)): i for i in range(fill)}
        watched = sorted(i for n, i in names.items() if n in present)
        assert len(watched) >= 10, watched
        seen: dict[int, float] = {}  # key -> start of B's last check that found it
        gone: dict[int, float] = {}  # key -> end of B's first check that did not

        def watch(seconds: float) -> None:
            r = nodes.b.call("watch", series="fill", idx=watched, seconds=seconds)
            seen.update({int(i): t for i, t in r["seen"].items()})
            for i, t in r["gone"].items():
                gone.setdefault(int(i), t)

        ev = Evictor(mounts[2] / "evict", nodes.logs, *flags)
        watch(0.3)  # B's verdict cache now says "there" for all of them
        nodes.a.send("store", series="wave", first=0, n=over_high(), batch=16)
        while nodes.a.reply(timeout=0) is None:
            watch(0.5)
        deadline = time.monotonic() + 30
        while not (t := ev.named("evicted").values()) or max(t) > time.time() - 1:
            assert time.monotonic() < deadline, "the evictor did not finish evicting"
            watch(0.5)  # until it has deleted nothing for a second
        watch(LOOKUP_CACHE_S + 0.5)
        evicted = {names[n]: t for n, t in ev.named("evicted").items() if n in names}
        removed = [i for i in watched if i in evicted]
        assert len(removed) >= 5, (len(removed), len(watched))
        assert all(i in gone for i in removed), "B still finds evicted keys"
        # No check that began lookup_cache_s after the unlink still found the
        # key (0.1 s: the log's milliseconds and its write after the unlink).
        late = {i: round(seen[i] - evicted[i], 3) for i in removed if i in seen}
        print(f"{len(removed)} watched keys evicted; B last found them {late} s after")
        assert max(late.values(), default=0) <= LOOKUP_CACHE_S + 0.1, late
        r = nodes.b.call("fetch", series="fill", idx=removed)
        assert r["final"] == ["MISS"] * len(removed) and r["wrong"] == []
    finally:
        ev.stop()
    assert allocated(mounts[2] / "evict") <= quota


def test_sigkilled_writer_never_exposes_a_torn_chunk(nodes, mounts):
    need(EVICTOR)
    n, batch = 32, 8
    root = str(mounts[0] / "kv")
    nodes.a.call("close")  # the writers are children forked from A's process
    nodes.b.open("kv")

    def round_(series: str, kill_after: float | None) -> tuple[bool, float]:
        pid = nodes.a.call("fork_store", root=root, series=series, first=0, n=n, batch=batch)["pid"]
        try:
            started = nodes.a.event("storing", pid, timeout=60)
            assert started is not None, "writer did not start"
            if kill_after is not None:
                time.sleep(kill_after)
                os.kill(pid, signal.SIGKILL)
            else:
                assert nodes.a.event("done", pid, timeout=120) is not None
        except BaseException:
            os.kill(pid, signal.SIGKILL)
            raise
        finally:
            sig = nodes.a.call("reap", pid=pid)["signal"]
        WRITTEN[series] = n
        done = nodes.a.event("done", pid, timeout=0) is not None
        return sig == signal.SIGKILL and not done, time.time() - started["t"]

    _, full = round_("kill-calibrate", None)  # how long a whole round takes
    # The latest kill time, adapted as the machine's load changes: shorter
    # after a writer finished first, a little longer after each kill.
    latest = 0.9 * full
    rng = random.Random(7)
    killed = partial = rounds = 0
    while killed < 50:
        assert rounds < 90, f"only {killed} of {rounds} kills landed during stores"
        series = f"kill{rounds}"
        rounds += 1
        mid, _ = round_(series, rng.uniform(0, latest))
        latest *= 1.05 if mid else 0.7
        killed += mid
        r = nodes.b.call("fetch", series=series, idx=list(range(n)))
        assert r["wrong"] == [], f"B read wrong bytes in {series}: {r['wrong']}"
        partial += mid and 0 < r["exact"] < n
    st = nodes.b.call("stats")["stats"]
    bad = {k: v for k, v in st.items() if k.startswith("verify_failures_total.") and v}
    assert bad == {}, bad  # no published name ever held a torn chunk
    print(f"{killed} of {rounds} kills landed during stores, {partial} left a partial prefix")
    assert partial >= 5, partial

    # The writers' orphaned temp files go once they are older than the grace.
    orphans = files(mounts[0] / "kv", is_temp)
    assert orphans, "no kill left a temp file: the cleanup is untested"
    grace = 3.0
    ev = Evictor(
        mounts[2] / "kv",
        nodes.logs,
        *("--quota-bytes", "1T", "--poll-interval", "250ms", "--tmp-grace", f"{grace}s"),
    )
    try:
        deadline = time.monotonic() + grace + 15
        while files(mounts[2] / "kv", is_temp):
            assert time.monotonic() < deadline, "temp files outlive their grace"
            time.sleep(0.25)
        removed = ev.named("removed stale temp file")
    finally:
        ev.stop()
    print(f"{len(orphans)} orphaned temp files, {len(removed)} removed by the evictor")
    assert set(orphans) <= set(removed)
    for name, st in orphans.items():  # MooseFS keeps whole seconds
        assert removed[name] >= st.st_ctime + grace, (name, removed[name] - st.st_ctime)
    stray = files(mounts[0] / "kv", lambda f: not f.endswith(".kv") and f != "fingerprint.json")
    assert stray == {}, stray


def test_restarted_nodes_hit_everything_still_there(nodes, prefix, mounts):
    nodes.stop()
    nodes.start()  # new processes: nothing but the files carries over
    present = set(files(mounts[1] / "kv"))
    assert len(present) >= prefix
    for node in (nodes.a, nodes.b):
        node.open("kv")
    for series, count in sorted(WRITTEN.items()):
        idx = list(range(count))
        r = nodes.b.call("fetch", series=series, idx=idx)
        expect = ["HIT" if chunk_name(key(series, i)) in present else "MISS" for i in idx]
        assert r["final"] == expect, series
        assert r["wrong"] == []
    # A writer finds the prefix there (by name, no index), then reads it.
    st = nodes.a.call("store", series="prefix", first=0, n=prefix)["stats"]
    assert st["puts_existing_total"] == prefix and st["puts_stored_total"] == 0, st
    r = nodes.a.call("fetch", series="prefix", idx=list(range(prefix)))
    assert r["final"] == ["HIT"] * prefix and r["wrong"] == []


def test_verify_on_mount_b_finds_nothing_bad(prefix, mounts):
    need(CLI)
    r = subprocess.run(
        [CLI, "verify", str(mounts[1] / "kv"), "--json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = json.loads(r.stdout)
    assert r.returncode == 0 and out["bad"] == 0, r.stdout[-3000:]
    assert out["good"] == len(files(mounts[1] / "kv")) >= prefix
