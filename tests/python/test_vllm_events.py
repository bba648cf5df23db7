"""kvtier's vLLM tier as an event source for llm-d's router: stored events
for what it publishes (as vLLM's own fs tier), removed events for what the
evictor deletes (through the removal journal), through vLLM's real event
translation and ZMQ publisher; and the settings it reads from vLLM."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest

vllm = pytest.importorskip("vllm")
from vllm.distributed.kv_events import BlockRemoved, BlockStored  # noqa: E402
from vllm.v1.core.kv_cache_utils import BlockHash, maybe_convert_block_hash  # noqa: E402
from vllm.v1.kv_offload.base import Medium, get_offload_block_hash, make_offload_key  # noqa: E402

from kvtier.journal import JOURNAL_DIR  # noqa: E402

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from vllm_events_harness import (  # noqa: E402
    Publisher,
    evict_everything,
    fs_tier,
    kvtier_cli,
    kvtier_tier,
    make_manager,
)
from vllm_harness import PAGE, Engine  # noqa: E402

CHUNK = 4 * PAGE


def payload(key: bytes) -> bytes:
    return (key * (CHUNK // len(key) + 1))[:CHUNK]


def keys_for(n: int, seed: bytes = b"") -> list[bytes]:
    return [make_offload_key((seed + i.to_bytes(4, "big")).ljust(32, b"\x05"), 0) for i in range(n)]


def storage_events(eng: Engine):
    with eng.mgr.lock:
        return [e for e in eng.mgr.take_events() if e.medium == Medium.STORAGE]


def wait_for(cond, timeout_s: float = 10.0, step=None):
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if step:
            step()
        if cond():
            return True
        time.sleep(0.05)
    return False


def free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("", 0))
        return s.getsockname()[1]


# 1. Stored events ------------------------------------------------------------------


def test_stored_events_match_vllms_fs_tier(tmp_path):
    """The same workload through kvtier's tier and vLLM's built-in fs tier
    announces the same blocks, on the STORAGE medium, with the locality."""
    keys = keys_for(6)
    announced = {}
    for name, tier in (
        ("kvtier", kvtier_tier(str(tmp_path / "kv"), locality="REMOTE")),
        ("fs", {**fs_tier(str(tmp_path / "fs")), "locality": "REMOTE"}),
    ):
        eng = Engine(make_manager(tier))
        try:
            eng.store(keys, [payload(k) for k in keys])
            events = storage_events(eng)
            assert events and all(not e.removed for e in events)
            assert {e.locality.value for e in events} == {"REMOTE"}
            announced[name] = sorted(k for e in events for k in e.keys)
            assert storage_events(eng) == []  # drained
        finally:
            eng.shutdown()
    assert announced["kvtier"] == announced["fs"] == sorted(keys)


def test_only_published_chunks_are_announced(tmp_path):
    """Stores shed by a full write queue are not announced; a chunk found
    already there is (this engine can serve it), once."""
    root = str(tmp_path)
    keys = keys_for(4)
    eng = Engine(make_manager(kvtier_tier(root, max_queued_write_bytes=1)))
    try:
        eng.store(keys, [payload(k) for k in keys])
        assert eng.tier.stats()["puts_dropped_total"] == len(keys)
        assert storage_events(eng) == []
    finally:
        eng.shutdown()
    a, b = Engine(make_manager(kvtier_tier(root))), Engine(make_manager(kvtier_tier(root)))
    try:
        a.store(keys, [payload(k) for k in keys])
        b.store(keys, [payload(k) for k in keys])
        assert b.tier.stats()["puts_existing_total"] == len(keys)
        for eng in (a, b):
            assert sorted(k for e in storage_events(eng) for k in e.keys) == sorted(keys)
        b.evict_primary()
        b.store(keys, [payload(k) for k in keys])  # again: no second announcement
        assert storage_events(b) == []
    finally:
        a.shutdown()
        b.shutdown()


def test_no_events_unless_vllm_publishes_them(tmp_path):
    keys = keys_for(2)
    off = {**kvtier_tier(str(tmp_path)), "enable_kv_events": False}
    for tier, events in ((kvtier_tier(str(tmp_path)), False), (off, True)):
        eng = Engine(make_manager(tier, events=events))
        try:
            eng.store(keys, [payload(k) for k in keys])
            assert storage_events(eng) == []
            assert not eng.tier.has_pending_work()
        finally:
            eng.shutdown()


# 2 + 3. Removed events, end to end -----------------------------------------------------


@pytest.fixture
def cli():
    path = kvtier_cli()
    if path is None:
        pytest.skip("kvtier CLI not built (set KVTIER_CLI)")
    return path


@pytest.mark.parametrize("poll_s", [0.2, 1.0])
def test_vllm_publisher_carries_stored_then_removed_after_the_evictor(tmp_path, cli, poll_s):
    """A ZMQ subscriber receives vLLM's own msgpack BlockStored for kvtier's
    stores and BlockRemoved once a real evictor deleted them; prints the
    delay from the evictor's exit to the last removal's arrival."""
    root = str(tmp_path / "cache")
    keys = keys_for(8)
    # As vLLM publishes a block hash (an int of its low 64 bits by default).
    hashes = sorted(maybe_convert_block_hash(BlockHash(get_offload_block_hash(k))) for k in keys)
    pub = Publisher(free_tcp_port())
    eng = Engine(make_manager(kvtier_tier(root, journal_poll_s=poll_s)))
    try:
        eng.store(keys, [payload(k) for k in keys])
        pub.step(eng.mgr)
        got = [e for _, e in pub.receive(5.0) if getattr(e, "medium", None) == "STORAGE"]
        assert all(isinstance(e, BlockStored) for e in got)
        assert sorted(h for e in got for h in e.block_hashes) == hashes

        t0 = time.monotonic()
        r = evict_everything(cli, root)
        t1 = time.monotonic()
        assert r.returncode == 0, r.stderr
        ns = Path(eng.tier.store.namespace_dir)
        assert not list(ns.glob("*/*/*.kv"))
        removed: list[tuple[float, BlockRemoved]] = []

        def step():
            eng.step()  # the engine keeps stepping: it is serving requests
            pub.step(eng.mgr)
            removed.extend(
                (t, e) for t, e in pub.receive(0.05) if isinstance(e, BlockRemoved)
            )  # fmt: skip

        assert wait_for(lambda: sum(len(e.block_hashes) for _, e in removed) >= 8, 15.0, step)
        assert sorted(h for _, e in removed for h in e.block_hashes) == hashes
        assert {e.medium for _, e in removed} == {"STORAGE"}
        delay = removed[-1][0] - t1
        print(
            f"\nevictor pass {t1 - t0:.3f} s; last BlockRemoved {delay:.3f} s after it exited "
            f"(journal_poll_s {poll_s}, one step per 50 ms)"
        )
        # The documented bound: journal_poll_s + 1 s + one step (the evictor
        # wrote the journal before it exited, so its 1 s is not needed here).
        assert delay < poll_s + 1.0
        assert not eng.tier.has_pending_work()
        st = eng.tier.stats()
        assert st["events_stored_total"] == 8 and st["events_removed_total"] == 8
    finally:
        eng.shutdown()
        pub.close()


def test_restarted_engine_replays_nothing(tmp_path, cli):
    root = str(tmp_path)
    keys = keys_for(4)
    a = Engine(make_manager(kvtier_tier(root)))
    try:
        a.store(keys, [payload(k) for k in keys])
        storage_events(a)
    finally:
        a.shutdown()
    assert evict_everything(cli, root).returncode == 0  # the journal now names all four
    assert list(Path(root).glob(f"*/{JOURNAL_DIR}/r0-*.log"))
    # The CLI's tree walks do not take the journal for chunks or strays.
    st = subprocess.run([cli, "stat", "--json", root], capture_output=True, text=True, timeout=60)
    assert st.returncode == 0, st.stderr
    for ns_stat in json.loads(st.stdout)["namespaces"]:
        assert (ns_stat["chunks"], ns_stat["other_files"]) == (0, 0), ns_stat
    assert subprocess.run([cli, "verify", root], capture_output=True, timeout=60).returncode == 0
    b = Engine(make_manager(kvtier_tier(root)))  # restarted: announced nothing yet
    try:
        b.store(keys[:2], [payload(k) for k in keys[:2]])
        assert sorted(k for e in storage_events(b) for k in e.keys) == sorted(keys[:2])
        time.sleep(1.0)  # five journal polls
        assert storage_events(b) == []  # the old segment is not replayed
        assert evict_everything(cli, root).returncode == 0
        assert wait_for(lambda: b.tier.stats()["events_removed_total"] == 2)
        events = storage_events(b)
        assert sorted(k for e in events if e.removed for k in e.keys) == sorted(keys[:2])
    finally:
        b.shutdown()


def _segment(lines: list[bytes]) -> bytes:
    return b"".join(lines)


def _line(rel: str, crc: int | None = None) -> bytes:
    raw = rel.encode()
    return raw + b" %08x\n" % (zlib.crc32(raw) if crc is None else crc)


def test_hostile_journal_is_skipped_and_counted(tmp_path):
    """Bad checksums, torn lines, foreign paths, oversized or non-regular
    segments never become removals; one valid record does."""
    root = tmp_path / "cache"
    keys = keys_for(3)
    eng = Engine(make_manager(kvtier_tier(str(root))))
    try:
        eng.store(keys, [payload(k) for k in keys])
        storage_events(eng)
        ns = Path(eng.tier.store.namespace_dir)
        chunk = {k: next(ns.glob(f"*/*/{k.hex()}.kv")) for k in keys}
        rel = {k: str(p.relative_to(ns)) for k, p in chunk.items()}
        for p in chunk.values():
            p.unlink()  # gone, as after an eviction
        j = ns / JOURNAL_DIR
        j.mkdir(exist_ok=True)
        (j / "r0-0000000000000001.log").write_bytes(
            _segment(
                [
                    _line(rel[keys[0]], crc=0),  # checksum fails
                    b"../../../etc/passwd 00000000\n",  # not a chunk path
                    # A valid record whose path is not where the chunk was: acted
                    # on if nothing is there (whoever can write the journal can
                    # delete the chunk too).
                    _line("00/00/" + keys[1].hex() + ".kv"),
                    _line(rel[keys[2]])[:-4],  # torn
                ]
            )
        )
        outside = tmp_path / "outside.log"
        outside.write_bytes(_line(rel[keys[0]]))
        os.symlink(outside, j / "r1-0000000000000001.log")
        (j / "r2-0000000000000001.log").write_bytes(_line(rel[keys[0]]) * 40000)  # > 512 KiB
        (j / "notes.log").write_bytes(_line(rel[keys[0]]))
        assert wait_for(lambda: eng.tier.stats()["journal_bad_records_total"] >= 3)
        time.sleep(0.5)
        events = storage_events(eng)
        assert [(e.removed, e.keys) for e in events] == [(True, [keys[1]])]
        assert eng.tier._tail.reader.counters.bad_segments == 2
        # A chunk stored again since its eviction keeps its announcement.
        chunk[keys[2]].write_bytes(b"stored again")
        (j / "r0-0000000000000002.log").write_bytes(_line(rel[keys[0]]) + _line(rel[keys[2]]))
        assert wait_for(lambda: eng.tier.stats()["events_removed_total"] == 2)
        time.sleep(0.5)
        assert [(e.removed, e.keys) for e in storage_events(eng)] == [(True, [keys[0]])]
        assert eng.tier._announced.counters.restored == 1
    finally:
        eng.shutdown()


def test_announced_set_is_bounded(tmp_path):
    keys = keys_for(6)
    eng = Engine(make_manager(kvtier_tier(str(tmp_path), max_announced_chunks=4)))
    try:
        eng.store(keys, [payload(k) for k in keys])
        events = storage_events(eng)
        assert eng.tier.stats()["announced_chunks"] == 4
        forgotten = [k for e in events if e.metadata_only for k in e.keys]
        assert len(forgotten) == 2 and all(e.removed for e in events if e.metadata_only)
    finally:
        eng.shutdown()


# 4. Usage gauges -----------------------------------------------------------------------


def test_namespace_usage_from_the_evictor(tmp_path, cli):
    root = str(tmp_path)
    keys = keys_for(5)
    eng = Engine(make_manager(kvtier_tier(root)))
    try:
        assert eng.tier.stats()["namespace_chunks"] == -1  # no evictor yet
        eng.store(keys, [payload(k) for k in keys])
        r = subprocess.run(
            [cli, "evict", "--once", "--quota-bytes", "1T", "--port", "0", root],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert r.returncode == 0, r.stderr
        assert wait_for(lambda: eng.tier.stats()["namespace_chunks"] == 5, 10.0)
        ns = Path(eng.tier.store.namespace_dir)
        allocated = sum(p.stat().st_blocks * 512 for p in ns.glob("*/*/*.kv"))
        assert eng.tier.stats()["namespace_bytes"] == allocated
        flat = eng.tier.get_stats().reduce()
        assert any("kvtier_namespace_chunks" in k and v == 5 for k, v in flat.items()), flat
        assert f"kvtier_namespace_bytes {allocated}" in eng.tier.metrics_text()
        defs = type(eng.tier).build_metric_definitions({})
        assert "vllm:kvtier_namespace_chunks" in defs and "vllm:kvtier_events_removed" in defs
    finally:
        eng.shutdown()
