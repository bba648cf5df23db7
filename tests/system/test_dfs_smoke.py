"""The MooseFS harness itself (tools/dfs.sh via dfs.py): one filesystem seen
by every mount, a capacity statvfs follows, a delay that requests pay (and
that can change while the cluster runs), and a teardown that leaves nothing
behind."""

from __future__ import annotations

import errno
import os
import signal
import statistics
import subprocess
import time
from pathlib import Path

import pytest
from dfs import moosefs

MiB = 1 << 20


def used(mount: Path) -> int:
    st = os.statvfs(mount)
    return (st.f_blocks - st.f_bavail) * st.f_frsize


def wait_for(predicate, timeout_s: float, what: str) -> float:
    """Seconds until predicate() held; fails the test past timeout_s."""
    t0 = time.monotonic()
    while not predicate():
        assert time.monotonic() - t0 < timeout_s, f"{what}: not within {timeout_s} s"
        time.sleep(0.02)
    return time.monotonic() - t0


def write(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        os.fsync(f.fileno())


def lookup_ms(mount: Path, n: int) -> float:
    """Median time of a lookup of a missing name: a round trip to the master
    each time (mfsmount keeps no negative entries)."""
    times = []
    for i in range(n):
        t0 = time.perf_counter()
        assert not (mount / f"missing-{i}").exists()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def test_one_filesystem_on_every_mount_and_a_dead_mount_comes_back(dfs_cluster):
    m = dfs_cluster.mounts
    data = os.urandom(5 * MiB + 12345)  # spans blocks, ends mid-block
    write(m[0] / "smoke.bin", data)
    for other in m[1:]:
        assert (other / "smoke.bin").read_bytes() == data
    (m[1] / "smoke.bin").rename(m[1] / "renamed.bin")
    wait_for(lambda: not (m[2] / "smoke.bin").exists(), 5, "rename seen on mount 2")
    assert (m[2] / "renamed.bin").read_bytes() == data

    # A mount whose client dies answers ENOTCONN; remount brings it back.
    os.kill(dfs_cluster.mount_pids[2], signal.SIGKILL)
    with pytest.raises(OSError) as e:
        wait_for(lambda: not os.stat(m[2]), 5, "mount 2 gone")
    assert e.value.errno == errno.ENOTCONN
    old_pid = dfs_cluster.mount_pids[2]
    dfs_cluster.remount(2)
    assert dfs_cluster.mount_pids[2] != old_pid
    assert (m[2] / "renamed.bin").read_bytes() == data

    (m[2] / "renamed.bin").unlink()
    wait_for(lambda: not (m[0] / "renamed.bin").exists(), 5, "unlink seen on mount 0")


def test_statvfs_shows_the_capacity_and_follows_writes_and_unlinks(tmp_path):
    cap = 128 * MiB
    with moosefs(tmp_path / "dfs", mounts=3, capacity="128M") as c:
        m = c.mounts
        st = os.statvfs(m[2])
        assert st.f_blocks * st.f_frsize == cap
        before = used(m[2])
        assert before < MiB

        write(m[0] / "fill", b"\0" * (64 * MiB))  # zeros take their space too
        wait_for(lambda: used(m[2]) >= before + 64 * MiB, 10, "write seen in statvfs")
        (m[1] / "fill").unlink()
        lag = wait_for(lambda: used(m[2]) <= before + MiB, 10, "unlink seen in statvfs")
        print(f"statvfs on mount 2 reflected an unlink on mount 1 after {lag:.3f} s")

        with pytest.raises(OSError) as e:
            write(m[0] / "too-much", os.urandom(cap + 64 * MiB))
        assert e.value.errno in (errno.EDQUOT, errno.ENOSPC)
        (m[0] / "too-much").unlink()
        pids = [c.master_pid, *c.chunkserver_pids, *c.mount_pids]

    # down left nothing behind.
    assert not [
        line
        for line in Path("/proc/self/mounts").read_text().splitlines()
        if f" {c.state}/" in line
    ]
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text()
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert c.netns not in netns.split()


def test_requests_pay_the_delay_each_way(dfs_cluster, tmp_path):
    baseline = lookup_ms(dfs_cluster.mounts[0], 40)
    delay_ms = 2.0
    with moosefs(tmp_path / "dfs", mounts=1, delay_ms=delay_ms) as c:
        assert c.relay_pid is not None
        delayed = lookup_ms(c.mounts[0], 40)
        data = os.urandom(3 * MiB)
        write(c.mounts[0] / "f", data)
        assert (c.mounts[0] / "f").read_bytes() == data
        # The delay changes while the cluster runs (store at one, load at another).
        c.set_delay(0)
        relayed = lookup_ms(c.mounts[0], 40)
        c.set_delay(delay_ms)
        again = lookup_ms(c.mounts[0], 40)
        assert (c.mounts[0] / "f").read_bytes() == data
    print(
        f"lookup of a missing name: {baseline:.3f} ms undelayed, {delayed:.3f} ms at "
        f"{delay_ms} ms each way, {relayed:.3f} ms after `delay 0`, {again:.3f} ms "
        f"after `delay {delay_ms}`"
    )
    assert delayed >= 2 * delay_ms
    assert delayed > baseline + 1.5 * delay_ms
    assert relayed < delayed - 1.5 * delay_ms
    assert again >= 2 * delay_ms
