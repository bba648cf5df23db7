"""Per-key outcomes through the binding (why a key failed), and the log the
engine integrations keep of them."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

import kvtier
from kvtier import KeyOutcome, _kvtier
from kvtier.outcome_log import OutcomeLog

LEN = 8192


def make_store(root, fp, **kw) -> kvtier.Store:
    kw.setdefault("read_threads", 2)
    kw.setdefault("write_threads", 2)
    return kvtier.Store(str(root), fp, **kw)


def flip_last_byte(path: Path) -> None:
    """One payload byte (the chunk's payload ends the file)."""
    with open(path, "r+b") as f:
        f.seek(-1, os.SEEK_END)
        b = f.read(1)
        f.seek(-1, os.SEEK_END)
        f.write(bytes([b[0] ^ 0x10]))


def chunk_file(s: kvtier.Store, key: bytes) -> Path:
    (path,) = Path(s.namespace_dir).rglob(key.hex() + ".kv")
    return path


def test_python_names_match_the_native_ones():
    assert tuple(o.label for o in KeyOutcome) == tuple(_kvtier.KEY_OUTCOMES)
    assert KeyOutcome.OK == 0 and KeyOutcome.IO_ERROR.label == "io_error"


def test_poll_and_wait_result_give_each_keys_outcome(tmp_path, fingerprint):
    with make_store(tmp_path, fingerprint) as s:
        data = np.arange(LEN, dtype=np.uint8)
        assert s.put(b"good", data) and s.put(b"bad", data)
        flip_last_byte(chunk_file(s, b"bad"))
        outs = [np.zeros(LEN, np.uint8) for _ in range(3)]
        jid = s.submit_get([b"good", b"bad", b"absent"], outs)
        r = s.wait_result(jid)
        assert r is not None and r.job_id == jid and r.kind == "get"
        assert r.outcomes == [KeyOutcome.OK, KeyOutcome.CORRUPT, KeyOutcome.MISS]
        assert r.ok == [True, False, False] and not r.all_ok
        assert all(isinstance(o, KeyOutcome) for o in r.outcomes)
        assert s.wait_result(jid) is None  # collected already
        assert (outs[0] == data).all()
        cid = s.submit_contains([b"good", b"bad"])  # the corrupt file was removed
        (polled,) = s.poll(timeout_s=None)
        assert polled.job_id == cid and polled.kind == "contains"
        assert polled.outcomes == [KeyOutcome.OK, KeyOutcome.MISS]
        assert s.stats()["verify_failures_total.payload_checksum"] == 1


def test_wait_keeps_its_list_of_bools(tmp_path, fingerprint):
    with make_store(tmp_path, fingerprint) as s:
        buf = np.ones(LEN, np.uint8)
        assert s.wait(s.submit_put([b"k"], [buf])) == [True]
        assert s.wait(s.submit_get([b"k", b"absent"], [buf, buf.copy()])) == [True, False]


def test_a_full_write_budget_drops_the_store(tmp_path, fingerprint):
    with make_store(tmp_path, fingerprint, max_queued_write_bytes=LEN) as s:
        big, small = np.ones(LEN + 1, np.uint8), np.ones(10, np.uint8)
        r = s.wait_result(s.submit_put([b"big", b"small"], [big, small]))
        assert r is not None and r.outcomes == [KeyOutcome.DROPPED, KeyOutcome.OK]
        assert s.stats()["puts_dropped_total"] == 1


def test_a_tampered_sealed_chunk_fails_authentication(tmp_path, fingerprint):
    key_file = tmp_path / "key"
    key_file.write_text("a" * 64 + "\n")
    key_file.chmod(0o600)
    root = tmp_path / "root"
    root.mkdir()
    with make_store(root, fingerprint, auth_key_file=str(key_file)) as s:
        data = np.arange(LEN, dtype=np.uint8)
        assert s.put(b"sealed", data) and s.put(b"tampered", data)
        flip_last_byte(chunk_file(s, b"tampered"))
        outs = [np.zeros(LEN, np.uint8) for _ in range(2)]
        r = s.wait_result(s.submit_get([b"sealed", b"tampered"], outs))
        assert r is not None and r.outcomes == [KeyOutcome.OK, KeyOutcome.AUTH_FAILED]
        assert s.stats()["verify_failures_total.auth"] == 1


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_outcome_log_counts_and_logs_misses_quietly(caplog):
    clock = _Clock()
    log = OutcomeLog(logging.getLogger("kvtier.test"), interval_s=60.0, clock=clock)
    with caplog.at_level(logging.DEBUG, logger="kvtier.test"):
        log.record("get", [KeyOutcome.OK, KeyOutcome.MISS, KeyOutcome.MISS, KeyOutcome.CORRUPT])
        log.record("put", [KeyOutcome.IO_ERROR])
        clock.now = 10.0
        log.record("get", [KeyOutcome.CORRUPT] * 3)  # within the interval: counted, not logged
        clock.now = 70.0
        log.record("get", [KeyOutcome.CORRUPT])
    assert log.stats() == {
        "key_outcomes_total.get.ok": 1,
        "key_outcomes_total.get.miss": 2,
        "key_outcomes_total.get.corrupt": 5,
        "key_outcomes_total.put.io_error": 1,
    }
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 3
    assert warnings[0].startswith("kvtier: 1 get key(s) failed: corrupt")
    assert warnings[1].startswith("kvtier: 1 put key(s) failed: io_error")
    assert warnings[2].startswith("kvtier: 4 get key(s) failed: corrupt")  # 3 held back + 1
    debug = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    assert debug == ["kvtier: 2 get miss(es)"]
    text = log.prometheus()
    assert text[0] == "# TYPE kvtier_key_outcomes_total counter"
    assert 'kvtier_key_outcomes_total{op="get",outcome="corrupt"} 5' in text
