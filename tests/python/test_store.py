"""The Python API of the store: buffers, results, misuse, metrics."""

from __future__ import annotations

import os

import numpy as np
import pytest

import kvtier


def make_store(root, fp, **kw) -> kvtier.Store:
    kw.setdefault("read_threads", 2)
    kw.setdefault("write_threads", 2)
    return kvtier.Store(str(root), fp, **kw)


def test_round_trip_every_buffer_kind(tmp_path, fingerprint):
    with make_store(tmp_path, fingerprint) as s:
        data = os.urandom(100_000)
        assert s.put(b"bytes", data)
        out = bytearray(len(data))
        assert s.get(b"bytes", out)
        assert bytes(out) == data
        mv = memoryview(bytearray(len(data)))
        assert s.get(b"bytes", mv)
        assert bytes(mv) == data
        arr = np.random.default_rng(1).standard_normal(4096).astype(np.float16)
        assert s.put(b"numpy", arr)
        back = np.zeros_like(arr)
        assert s.get(b"numpy", back)
        np.testing.assert_array_equal(arr, back)
        assert s.contains([b"bytes", b"numpy", b"absent"]) == [True, True, False]


def test_torch_cpu_tensor(tmp_path, fingerprint):
    torch = pytest.importorskip("torch")
    with make_store(tmp_path, fingerprint) as s:
        t = torch.randn(64, 128, dtype=torch.bfloat16)
        assert s.put(b"t", t)
        out = torch.zeros_like(t)
        assert s.get(b"t", out)
        assert torch.equal(out, t)
        with pytest.raises(ValueError):
            s.get(b"t", torch.zeros(128, 64, dtype=torch.bfloat16).t())


def test_async_jobs(tmp_path, fingerprint):
    with make_store(tmp_path, fingerprint) as s:
        bufs = [np.full(8192, i, dtype=np.uint8) for i in range(10)]
        keys = [f"k{i}".encode() for i in range(10)]
        jid = s.submit_put(keys, bufs)
        assert jid > 0
        assert s.wait(jid) == [True] * 10
        assert s.wait(jid) is None  # collected already
        outs = [np.zeros(8192, dtype=np.uint8) for _ in range(11)]
        gid = s.submit_get([*keys, b"missing"], outs)
        cid = s.submit_contains([b"k0", b"nope"])
        done = {}
        while len(done) < 2:
            for r in s.poll():
                done[r.job_id] = r
        assert done[gid].kind == "get" and done[gid].ok == [True] * 10 + [False]
        assert not done[gid].all_ok
        assert done[cid].ok == [True, False]
        for i in range(10):
            assert (outs[i] == i).all()


def test_misuse_raises_clear_errors(tmp_path, fingerprint):
    with make_store(tmp_path, fingerprint, chunk_bytes=4096) as s:
        with pytest.raises(TypeError):
            s.put("not-bytes", b"x" * 4096)
        with pytest.raises(TypeError):
            s.get(b"k", b"immutable" * 455)  # read-only buffer
        with pytest.raises(ValueError, match="chunk_bytes"):
            s.put(b"k", b"x" * 10)
        with pytest.raises(ValueError, match="differ in length"):
            s.submit_put([b"a", b"b"], [bytearray(4096)])
        with pytest.raises(TypeError):
            s.submit_get([b"a"], [object()])
    with pytest.raises(ValueError, match="closed"):
        s.put(b"k", b"x" * 4096)
    with pytest.raises(ValueError):
        make_store(tmp_path, fingerprint, io_backend="bogus")
    with pytest.raises(ValueError):
        make_store(tmp_path, fingerprint, read_threads=-1)
    with pytest.raises(TypeError):
        make_store(tmp_path, ["not", "a", "dict"])
    with pytest.raises(RuntimeError):
        make_store(tmp_path / "does-not-exist", fingerprint)


def test_io_failures_are_results_not_exceptions(tmp_path, fingerprint):
    with make_store(tmp_path, fingerprint) as s:
        out = bytearray(100)
        assert s.get(b"nothing", out) is False
        assert s.put(b"k", b"x" * 100)
        assert s.get(b"k", bytearray(99)) is False  # wrong size: a miss
        st = s.stats()
        assert st["get_misses_total"] == 2
        assert st["verify_failures_total.length_mismatch"] == 1


def test_stats_and_metrics_text(tmp_path, fingerprint):
    with make_store(tmp_path, fingerprint, io_backend="threadpool", direct_io=False) as s:
        assert s.put(b"k", b"abc")
        st = s.stats()
        assert st["puts_stored_total"] == 1
        assert st["io_backend"] == "threadpool"
        assert st["direct_io"] is False
        assert st["namespace_dir"].startswith(str(tmp_path))
        text = s.metrics_text()
        assert "# TYPE kvtier_puts_stored_total counter" in text
        assert "kvtier_get_seconds_bucket" in text


def test_write_queue_bound_drops_and_counts(tmp_path, fingerprint):
    chunk = 1 << 20
    with make_store(
        tmp_path, fingerprint, write_threads=1, max_queued_write_bytes=2 * chunk
    ) as s:
        buf = np.ones(chunk, dtype=np.uint8)
        ids = [s.submit_put([f"k{i}".encode()], [buf]) for i in range(200)]
        results = [s.wait(i)[0] for i in ids]
        st = s.stats()
        assert st["puts_dropped_total"] > 0
        assert st["puts_dropped_total"] + st["puts_stored_total"] == 200
        assert sum(results) == st["puts_stored_total"]
