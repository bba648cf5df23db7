"""The Python API of the store: buffers, results, misuse, metrics."""

from __future__ import annotations

import os
import threading
import time

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


@pytest.mark.parametrize("direct_io", [False, True])
def test_multi_buffer_keys_are_one_chunk(tmp_path, fingerprint, direct_io):
    """A key's list or tuple of buffers is one chunk whose payload is their
    concatenation: gathered on put, scattered on get, the same bytes as a
    single buffer holding them."""
    torch = pytest.importorskip("torch")
    with make_store(tmp_path, fingerprint, direct_io=direct_io) as s:
        rng = np.random.default_rng(3)
        a = rng.integers(0, 256, 4096, dtype=np.uint8)
        b = bytearray(rng.integers(0, 256, 5003, dtype=np.uint8).tobytes())
        c = torch.randint(0, 255, (777,), dtype=torch.uint8)
        joined = a.tobytes() + bytes(b) + c.numpy().tobytes()
        single = bytearray(joined)
        jid = s.submit_put([b"three", b"two", b"one"], [[a, b, c], (a, b), single])
        assert s.wait(jid) == [True, True, True]
        files = [f for _, _, fs in os.walk(s.namespace_dir) for f in fs if f.endswith(".kv")]
        assert len(files) == 3  # one chunk per key
        oa, ob, oc = np.zeros(4096, np.uint8), bytearray(5003), torch.zeros(777, dtype=torch.uint8)
        whole = bytearray(len(joined))
        # Scattered into other pieces than it was gathered from: one payload.
        x, y = bytearray(10), memoryview(bytearray(len(joined) - 10))
        gid = s.submit_get([b"three", b"three", b"one"], [(oa, ob, oc), whole, [x, y]])
        assert s.wait(gid) == [True, True, True]
        assert oa.tobytes() + bytes(ob) + oc.numpy().tobytes() == joined
        assert bytes(whole) == joined and bytes(x) + bytes(y) == joined
        # Pieces adding up to another length than the chunk's: a miss.
        gid = s.submit_get([b"two"], [[bytearray(4096), bytearray(5000)]])
        assert s.wait(gid) == [False]


def test_multi_buffer_misuse_raises_value_errors(tmp_path, fingerprint):
    with make_store(tmp_path, fingerprint) as s:
        with pytest.raises(ValueError, match=r"buffers\[1\]: an empty list"):
            s.submit_put([b"a", b"b"], [b"x", []])
        with pytest.raises(ValueError, match=r"buffers\[0\]\[1\]"):
            s.submit_put([b"a"], [[b"x", object()]])
        with pytest.raises(ValueError, match=r"buffers\[0\]\[0\]: a list inside"):
            s.submit_get([b"a"], [[[bytearray(2)]]])
        with pytest.raises(ValueError, match=r"buffers\[0\]\[1\]"):
            s.submit_get([b"a"], [[bytearray(2), b"read-only"]])
        with pytest.raises(ValueError, match="at most"):
            s.submit_put([b"a"], [[b"x"] * (kvtier._store.MAX_PAYLOAD_PIECES + 1)])
        with pytest.raises(ValueError, match="differ in length"):
            s.submit_put([b"a", b"b"], [[b"x", b"y"]])
        assert s.stats()["puts_total"] == 0  # nothing was queued
    with make_store(tmp_path, fingerprint, chunk_bytes=4096) as s:
        # chunk_bytes applies to a key's total, not to each piece.
        assert s.wait(s.submit_put([b"k"], [[b"x" * 1000, b"y" * 3096]])) == [True]
        with pytest.raises(ValueError, match="chunk_bytes"):
            s.submit_put([b"k"], [[b"x" * 4096, b"y"]])


def test_poll_can_wait_for_any_job(tmp_path, fingerprint):
    with make_store(tmp_path, fingerprint) as s:
        assert s.poll(timeout_s=None) == []  # nothing outstanding: no wait
        bufs = [np.full(4096, i, dtype=np.uint8) for i in range(8)]
        ids = {s.submit_put([f"w{i}".encode()], [bufs[i]]) for i in range(8)}
        got = []
        while len(got) < 8:
            batch = s.poll(max_results=3, timeout_s=None)
            assert 1 <= len(batch) <= 3  # blocks until at least one is done
            got += batch
        assert {r.job_id for r in got} == ids and all(r.all_ok for r in got)
        assert s.poll(timeout_s=0.01) == []
        assert s.poll(timeout_s=float("inf")) == []  # nothing outstanding
        with pytest.raises(ValueError):
            s.poll(timeout_s=-1)
        with pytest.raises(ValueError):
            s.wait(1, timeout_s=-1)
        with pytest.raises(ValueError, match="NaN"):
            s.wait(1, timeout_s=float("nan"))
        # Two threads wait for one job: both return, one with the job.
        jid = s.submit_put([b"one"], [bufs[0]])
        got, took = [], []

        def consumer():
            t0 = time.monotonic()
            got.extend(s.poll(timeout_s=30))
            took.append(time.monotonic() - t0)

        threads = [threading.Thread(target=consumer) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert [r.job_id for r in got] == [jid]
        assert max(took) < 10


def test_intervals_past_int64_nanoseconds_mean_never(tmp_path, fingerprint):
    # 1e12 s does not fit int64 ns: it is clamped ("never"), not an error.
    with make_store(tmp_path, fingerprint, touch_interval_s=1e12, lookup_cache_s=1e12) as s:
        assert s.put(b"k", b"x" * 100)
        assert s.get(b"k", bytearray(100))
        assert s.contains([b"k", b"nope"]) == [True, False]
        hits = s.stats()["lookup_cache_hits_total"]
        assert s.contains([b"k", b"nope"]) == [True, False]
        assert s.stats()["lookup_cache_hits_total"] == hits + 2  # cached, not expired


def test_close_while_other_threads_use_the_store(tmp_path, fingerprint):
    # Threads inside the store (GIL released) while another closes it get
    # results or "store is closed", and all of them finish. (That none of
    # them touches a freed store is by construction, each call holding its
    # own reference; without a sanitizer a test cannot see it reliably.)
    s = make_store(tmp_path, fingerprint, chunk_bytes=1 << 16)
    errors = []

    def worker(n):
        buf = np.full(1 << 16, n, dtype=np.uint8)
        out = np.zeros(1 << 16, dtype=np.uint8)
        try:
            for i in range(100000):
                key = f"t{n}-{i % 50}".encode()
                s.put(key, buf)
                if s.get(key, out):
                    assert (out == n).all()
                s.wait(s.submit_get([key], [out]), timeout_s=1.0)
                s.poll(timeout_s=0.001)
        except ValueError as e:
            if "closed" not in str(e):
                errors.append(e)
        except Exception as e:  # noqa: BLE001 - any other failure is the bug
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    threading.Event().wait(0.2)
    s.close()
    for t in threads:
        t.join(timeout=30)
        assert not t.is_alive()
    assert errors == []
    assert s.closed


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
        assert st["load_direct_io"] is False
        assert st["store_direct_io"] is False
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



def test_io_timeout_option(tmp_path, fingerprint):
    # Loads stage through store-owned buffers only where a deadline can
    # abandon them and the filesystem can stall (not tmpfs). The stall itself
    # is tested through the fault env (tests/store/deadline_test.cc) and on
    # MooseFS with SIGSTOPped chunkservers (tests/system/test_stall.py).
    with kvtier.Store(str(tmp_path), fingerprint, io_timeout_s=0.3) as s:
        st = s.stats()
        on_tmpfs = os.statvfs(str(tmp_path)).f_fsid == os.statvfs("/dev/shm").f_fsid
        assert st["staged_reads"] == (0 if on_tmpfs else 1)
        assert st["io_timeouts_total.get"] == 0 and st["jobs_timed_out_total"] == 0
        assert 'kvtier_io_timeouts_total{op="put"} 0' in s.metrics_text()
        out = np.empty(8192, np.uint8)
        assert s.put(b"k", np.arange(8192, dtype=np.uint32).view(np.uint8)[:8192])
        assert s.get(b"k", out)
    for off in (0, -1.0, float("inf")):
        with kvtier.Store(str(tmp_path), fingerprint, io_timeout_s=off) as s:
            assert s.stats()["staged_reads"] == 0  # no deadline: nothing to guard against
    with pytest.raises(ValueError, match="NaN"):
        kvtier.Store(str(tmp_path), fingerprint, io_timeout_s=float("nan"))


def test_segment_bytes_option(tmp_path, fingerprint):
    # 0 (the default): the filesystem's rule, 512 KiB on a local disk (2 MiB
    # for loads on FUSE: tests/system/test_io_choice.py);
    # an explicit size is used as given (whole 4 KiB blocks) and loads
    # through it come back verified.
    with kvtier.Store(str(tmp_path), fingerprint) as s:
        assert s.stats()["segment_bytes"] == 512 << 10
    data = np.random.default_rng(1).integers(0, 255, 3 << 20, dtype=np.uint8)
    with kvtier.Store(str(tmp_path), fingerprint, segment_bytes=1 << 20) as s:
        assert s.stats()["segment_bytes"] == 1 << 20
        out = np.empty_like(data)
        assert s.put(b"seg", data) and s.get(b"seg", out)
        assert (out == data).all()
    for bad in (1000, 2 << 30):
        with pytest.raises(ValueError, match="segment_bytes"):
            kvtier.Store(str(tmp_path), fingerprint, segment_bytes=bad)
    with pytest.raises(ValueError, match="segment_bytes"):
        kvtier.Store(str(tmp_path), fingerprint, segment_bytes=-1)


def test_defaults_are_the_native_cores(tmp_path, fingerprint):
    # One source of truth: StoreOptions in include/kvtier/store.h, exported
    # by the extension; Store's signature and the engines' options read it.
    import inspect

    from kvtier import _kvtier, _store

    native = _kvtier.STORE_DEFAULTS
    assert native["max_queued_write_bytes"] == 1 << 30
    assert native["io_timeout_s"] == 30.0
    params = inspect.signature(kvtier.Store).parameters
    for name, value in native.items():
        assert params[name].default == value, name
    engine = _store.ENGINE_STORE_OPTIONS
    for name in ("read_threads", "write_threads", "verify", "durable", "touch_interval_s"):
        assert engine[name] == native[name], name
    assert engine["io_timeout_s"] == native["io_timeout_s"]
    assert engine["file_mode"] == "0644" and engine["dir_mode"] == "0755"
    # The one deliberate difference, for engines' large stores.
    assert engine["max_queued_write_bytes"] == 4 << 30
    assert kvtier.DEFAULT_IO_TIMEOUT_S == native["io_timeout_s"]
