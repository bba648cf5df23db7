"""Several processes on one root: concurrent writers of the same keys, and
writers killed with SIGKILL at random points."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

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


EVICTOR = os.environ.get(
    "KVTIER_EVICTOR",
    str(
        Path(os.environ.get("KVTIER_CLI", "build/release/src/cli/kvtier")).parents[1]
        / "evictor"
        / "kvtier-evictor"
    ),
)


def allocated(root: Path) -> int:
    return sum(p.lstat().st_blocks * 512 for p in root.rglob("*") if p.is_file())


def test_evictor_through_symlinked_root(tmp_path):
    """kvtier-evictor on ROOT reached through a symlink (/scratch ->
    /lustre/scratch) deletes the oldest chunks down to the low mark, and
    still never follows a symlink below the root."""
    if not os.access(EVICTOR, os.X_OK):
        pytest.skip(f"kvtier-evictor not built at {EVICTOR}")
    root = tmp_path / "lustre" / "scratch"
    root.mkdir(parents=True)
    (tmp_path / "scratch").symlink_to(root)
    with kvtier.Store(str(tmp_path / "scratch"), {"model": "proc-test"}, read_threads=1) as s:
        for i in range(40):
            assert s.put(b"key-%d" % i, payload(i)[: 64 * 1024])
    chunks = sorted(root.rglob("*.kv"))
    assert len(chunks) == 40
    outside = tmp_path / "outside.kv"
    outside.write_bytes(chunks[0].read_bytes())
    os.utime(outside, (time.time() - 86400 * 2,) * 2)
    (chunks[0].parent / ("00" + chunks[0].name)).symlink_to(outside)
    for i, c in enumerate(chunks):  # a known LRU order, a day old (after any read)
        t = time.time() - 86400 + i
        os.utime(c, (t, t))
    quota = allocated(root) * 10 // 9  # usage 0.9 of the quota
    args = ["--once", "--port", "0", "--min-age", "0s", "--quota-bytes", str(quota)]
    r = subprocess.run(
        [EVICTOR, *args, "--high", "0.8", "--low", "0.5", str(tmp_path / "scratch")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    assert allocated(root) <= 0.5 * quota, r.stderr
    kept = [c for c in chunks if c.exists()]
    assert 0 < len(kept) < 40
    assert kept == chunks[40 - len(kept) :]  # the oldest went first
    assert outside.exists()
