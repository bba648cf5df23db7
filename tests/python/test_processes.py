"""Several processes on one root: concurrent writers of the same keys, and
writers killed with SIGKILL at random points."""

from __future__ import annotations

import hashlib
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import kvtier

CHUNK = 256 * 1024
WRITER = (
    r"""
import hashlib, sys, kvtier
root, fp, seed, n = sys.argv[1], {"model": "proc-test"}, int(sys.argv[2]), int(sys.argv[3])
first = int(sys.argv[4]) if len(sys.argv) > 4 else 0
def payload(i):
    block = hashlib.sha256(str(i).encode()).digest()
    return block * (%d // len(block))
with kvtier.Store(root, fp, read_threads=1, write_threads=2, durable=False) as s:
    print("writing", flush=True)
    order = list(range(first, first + n))
    import random; random.Random(seed).shuffle(order)
    for i in order:
        assert s.put(b"key-%%d" %% i, payload(i))
"""
    % CHUNK
)


def payload(i: int) -> bytes:
    block = hashlib.sha256(str(i).encode()).digest()
    return block * (CHUNK // len(block))


def temp_files(root: Path) -> list[Path]:
    return [p for p in root.rglob(".tmp.*")]


def test_eight_writers_same_keys(tmp_path):
    n = 40
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), str(seed), str(n)])
        for seed in range(8)
    ]
    assert all(p.wait(timeout=120) == 0 for p in procs)
    assert temp_files(tmp_path) == []
    chunks = [p for p in tmp_path.rglob("*.kv")]
    assert len(chunks) == n  # exactly one file per key
    with kvtier.Store(str(tmp_path), {"model": "proc-test"}, read_threads=2) as s:
        out = bytearray(CHUNK)
        for i in range(n):
            assert s.get(b"key-%d" % i, out)
            assert bytes(out) == payload(i)
        assert s.stats()["verify_failures_total.payload_checksum"] == 0


def test_sigkill_writers_never_expose_torn_chunks(tmp_path):
    rng = random.Random(1234)
    n = 400
    killed_mid_write = partial_rounds = 0
    for round_ in range(12):
        # Each round writes keys of its own, and the kill lands while it
        # writes: after it says so, within the first ~0.1 s of ~n chunks.
        first = round_ * n
        p = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(tmp_path), str(round_), str(n), str(first)],
            stdout=subprocess.PIPE,
        )
        assert p.stdout.readline() == b"writing\n"
        time.sleep(rng.uniform(0, 0.08))
        p.send_signal(signal.SIGKILL)
        killed_mid_write += p.wait() == -signal.SIGKILL
        with kvtier.Store(str(tmp_path), {"model": "proc-test"}, read_threads=2) as s:
            out = bytearray(CHUNK)
            readable = 0
            for i in range(first, first + n):
                if s.get(b"key-%d" % i, out):
                    assert bytes(out) == payload(i), f"wrong bytes for key {i}"
                    readable += 1
            partial_rounds += 0 < readable < n
            st = s.stats()
            # A published name always holds a whole, valid chunk.
            bad = sum(v for k, v in st.items() if k.startswith("verify_failures_total."))
            assert bad == 0, st
    assert killed_mid_write >= 6, killed_mid_write
    assert partial_rounds >= 1
    # Killed writers may leave temp files (never under a chunk name); the
    # evictor removes them after their grace period. Nothing else is there.
    for f in tmp_path.rglob("*"):
        if f.is_file():
            assert (
                f.suffix == ".kv" or f.name.startswith(".tmp.") or f.name == "fingerprint.json"
            ), f
