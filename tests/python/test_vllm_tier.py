"""kvtier as vLLM's secondary tier, against the real, pinned vllm package."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

vllm = pytest.importorskip("vllm")
from vllm.v1.kv_offload.base import LookupResult, ReqContext, make_offload_key  # noqa: E402
from vllm.v1.kv_offload.tiering.base import TransferJob  # noqa: E402

from kvtier.vllm import KvtierTier  # noqa: E402

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from vllm_harness import PAGE, Engine, make_manager  # noqa: E402

CHUNK = 4 * PAGE


def payload(key: bytes) -> bytes:
    return (key * (CHUNK // len(key) + 1))[:CHUNK]


def keys_for(n: int, groups: int = 1, seed: bytes = b"") -> list[bytes]:
    return [
        make_offload_key((seed + i.to_bytes(4, "big")).ljust(32, b"\x07"), g)
        for i in range(n)
        for g in range(groups)
    ]


def test_version_is_pinned():
    assert vllm.__version__.startswith("0.33.")


def test_factory_loads_the_tier_by_module_path(tmp_path):
    eng = Engine(make_manager(str(tmp_path)))
    try:
        assert isinstance(eng.tier, KvtierTier)
        fp = eng.tier.fingerprint
        assert fp["model"] == "org/tiny-model" and fp["kv_dtype"] == "bfloat16"
        assert fp["chunk_bytes"] == CHUNK
        assert (Path(eng.tier.store.namespace_dir) / "fingerprint.json").exists()
    finally:
        eng.shutdown()


def test_unknown_option_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="read_thread"):
        make_manager(str(tmp_path), tier={"read_thread": 4})


@pytest.mark.parametrize("groups", [1, 3])
def test_store_lookup_load_round_trip(tmp_path, groups):
    eng = Engine(make_manager(str(tmp_path), groups=groups))
    try:
        keys = keys_for(4, groups)
        eng.store(keys, [payload(k) for k in keys])
        assert eng.tier.stats()["puts_stored_total"] == len(keys)
        eng.evict_primary()
        results = eng.lookup(keys)
        assert results == [LookupResult.HIT] * len(keys)
        for k, data in zip(keys, eng.load(keys)):
            assert data == payload(k)
        st = eng.tier.stats()
        assert st["get_hits_total"] == len(keys)
        # Keys never stored are misses.
        assert eng.lookup(keys_for(2, groups, seed=b"other")) == [LookupResult.MISS] * (2 * groups)
        eng.finish_lookup()
    finally:
        eng.shutdown()


SECOND_ENGINE = r"""
import sys
sys.path.insert(0, sys.argv[2])
from vllm.v1.kv_offload.base import LookupResult
from test_vllm_tier import keys_for, payload
from vllm_harness import Engine, make_manager
eng = Engine(make_manager(sys.argv[1], groups=2))
keys = keys_for(5, 2)
assert eng.lookup(keys) == [LookupResult.HIT] * len(keys), "second engine missed"
for k, data in zip(keys, eng.load(keys)):
    assert data == payload(k), "second engine got wrong bytes"
print("HITS", eng.tier.stats()["get_hits_total"])
eng.shutdown()
"""


def test_second_engine_process_hits_chunks_of_the_first(tmp_path):
    eng = Engine(make_manager(str(tmp_path), groups=2))
    try:
        keys = keys_for(5, 2)
        eng.store(keys, [payload(k) for k in keys])
    finally:
        eng.shutdown()
    out = subprocess.run(
        [sys.executable, "-c", SECOND_ENGINE, str(tmp_path), str(HERE)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "HITS 10" in out.stdout


def test_other_fingerprint_never_hits(tmp_path):
    a = Engine(make_manager(str(tmp_path)))
    try:
        keys = keys_for(3)
        a.store(keys, [payload(k) for k in keys])
    finally:
        a.shutdown()
    b = Engine(make_manager(str(tmp_path), model="org/other-model"))
    try:
        assert b.lookup(keys) == [LookupResult.MISS] * 3
        b.finish_lookup()
    finally:
        b.shutdown()


def test_corrupt_chunks_are_misses_and_vllm_carries_on(tmp_path, caplog):
    eng = Engine(make_manager(str(tmp_path), tier={"lookup_cache_s": 0}))
    try:
        keys = keys_for(4)
        eng.store(keys, [payload(k) for k in keys])
        eng.evict_primary()
        files = sorted(Path(eng.tier.store.namespace_dir).rglob("*.kv"))
        assert len(files) == 4
        with open(files[0], "r+b") as f:  # flip one payload byte
            f.seek(PAGE + 100)
            b = f.read(1)
            f.seek(PAGE + 100)
            f.write(bytes([b[0] ^ 1]))
        results = eng.lookup(keys)
        hits = [k for k, r in zip(keys, results) if r is LookupResult.HIT]
        # The corrupt chunk fails to load: vLLM is told, marks it a miss,
        # and every chunk it does serve is exact.
        for k, data in zip(hits, eng.load(hits)):
            assert data == payload(k)
        st = eng.tier.stats()
        assert st["verify_failures_total.payload_checksum"] == 1
        # The tier tells a corrupt chunk from a miss: counted, and a warning.
        assert st["key_outcomes_total.get.corrupt"] == 1
        assert any(
            r.levelname == "WARNING" and "failed: corrupt" in r.getMessage() for r in caplog.records
        )
        assert 'kvtier_key_outcomes_total{op="get",outcome="corrupt"} 1' in eng.tier.metrics_text()
        assert len(hits) == 3
        assert len(list(Path(eng.tier.store.namespace_dir).rglob("*.kv"))) == 3
    finally:
        eng.shutdown()


def test_full_filesystem_fails_stores_and_vllm_carries_on(tmp_path):
    mnt = tmp_path / "small"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=96k", "tmpfs", str(mnt)]).returncode:
        pytest.skip("cannot mount tmpfs (needs root)")
    try:
        eng = Engine(make_manager(str(mnt), slots=32))
        try:
            keys = keys_for(12)
            eng.store(keys, [payload(k) for k in keys])
            st = eng.tier.stats()
            assert st["put_errors_total"] > 0
            assert st["key_outcomes_total.put.io_error"] == st["put_errors_total"]  # ENOSPC
            assert st["puts_stored_total"] < 12
            eng.evict_primary()
            results = eng.lookup(keys)
            stored = [k for k, r in zip(keys, results) if r is LookupResult.HIT]
            assert len(stored) == st["puts_stored_total"]
            for k, data in zip(stored, eng.load(stored)):
                assert data == payload(k)
            assert not list(mnt.rglob(".tmp.*"))
        finally:
            eng.shutdown()
    finally:
        subprocess.run(["umount", str(mnt)])


def test_drain_and_shutdown_report_every_job(tmp_path):
    eng = Engine(make_manager(str(tmp_path), slots=64))
    tier = eng.tier
    try:
        keys = keys_for(40)
        for i, k in enumerate(keys):
            eng.slots[i, :] = np.frombuffer(payload(k), dtype=np.uint8)
        ctx = ReqContext("drain")
        ids = np.arange(40, dtype=np.int32)

        def jobs(first_id: int, is_load: bool) -> list[TransferJob]:
            return [
                TransferJob(
                    first_id + j,
                    keys[j * 10 : (j + 1) * 10],
                    ids[j * 10 : (j + 1) * 10],
                    is_load,
                    ctx,
                )
                for j in range(4)
            ]

        # drain_jobs() waits for every submitted job without the scheduler
        # polling; each then shows up exactly once, successful.
        stores = jobs(100, False)
        for job in stores:
            tier.submit_store(job)
        tier.drain_jobs()
        assert not tier.has_pending_work()
        assert {r.job_id: r.success for r in tier.get_finished_jobs()} == {
            job.job_id: True for job in stores
        }
        eng.slots[:40] = 0
        loads = jobs(200, True)
        for job in loads:
            tier.submit_load(job)
        tier.drain_jobs()
        assert {r.job_id: r.success for r in tier.get_finished_jobs()} == {
            job.job_id: True for job in loads
        }
        assert all(bytes(eng.slots[i]) == payload(k) for i, k in enumerate(keys))
    finally:
        eng.shutdown()
    assert tier.store.closed


def test_io_timeout_reaches_the_store_and_vllm_metrics(tmp_path):
    # The stall itself (SIGSTOPped chunkservers, a killed FUSE client) is
    # tested with this tier in tests/system/test_stall.py.
    eng = Engine(make_manager(str(tmp_path), tier={"io_timeout_s": 0.5}))
    try:
        st = eng.tier.stats()
        assert st["staged_reads"] == 1 and st["jobs_timed_out_total"] == 0
        defs = type(eng.tier).build_metric_definitions({})
        assert defs["vllm:kvtier_io_timeouts"].labelnames == ("op",)
        assert "vllm:kvtier_stalled_workers" in defs
    finally:
        eng.shutdown()
    eng = Engine(make_manager(str(tmp_path), tier={"io_timeout_s": 0}))
    try:
        assert eng.tier.stats()["staged_reads"] == 0
    finally:
        eng.shutdown()


def test_xxhash_block_hashes_need_pythonhashseed(tmp_path, monkeypatch):
    monkeypatch.delenv("PYTHONHASHSEED", raising=False)
    with pytest.raises(ValueError, match="PYTHONHASHSEED"):
        make_manager(str(tmp_path), tier={"hash_algo": "xxhash"})
    make_manager(str(tmp_path), tier={"hash_algo": "sha256"}).shutdown()
    monkeypatch.setenv("PYTHONHASHSEED", "7")
    eng = Engine(make_manager(str(tmp_path), tier={"hash_algo": "xxhash_cbor"}))
    try:
        assert eng.tier.fingerprint["pythonhashseed"] == "7"
    finally:
        eng.shutdown()


def test_kvtier_counters_reach_vllm_metrics(tmp_path):
    eng = Engine(make_manager(str(tmp_path)))
    try:
        defs = type(eng.tier).build_metric_definitions({})
        assert "vllm:kvtier_load_hits" in defs and "vllm:kvtier_verify_failures" in defs
        keys = keys_for(3)
        eng.store(keys, [payload(k) for k in keys])
        eng.evict_primary()
        assert eng.lookup(keys) == [LookupResult.HIT] * 3
        eng.load(keys)
        with eng.mgr.lock:
            stats = eng.mgr.get_stats()  # vLLM's manager aggregates every tier
        flat = stats.reduce()
        assert any("kvtier_stores" in k and v == 3 for k, v in flat.items()), flat
        assert any("kvtier_load_hits" in k and v == 3 for k, v in flat.items()), flat
        # Deltas: a second call reports nothing new.
        again = eng.tier.get_stats().reduce()
        assert not any("kvtier_load_hits" in k and v for k, v in again.items()), again
    finally:
        eng.shutdown()
