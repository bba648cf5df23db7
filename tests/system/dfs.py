"""A MooseFS cluster for system tests: a thin wrapper over tools/dfs.sh.

    with moosefs(tmp_path / "dfs", mounts=3, delay_ms=0.5, capacity="1G") as c:
        c.mounts[0]                     # one FUSE mount per node
        with c.stopped(c.chunkserver_pids):
            ...                         # every chunkserver SIGSTOPped

`down` runs when the block exits, whatever happened inside it, and again at
interpreter exit for a cluster whose block never got to finish (a SIGTERM
is turned into KeyboardInterrupt by tests/system/conftest.py)."""

from __future__ import annotations

import atexit
import contextlib
import os
import shlex
import signal
import subprocess
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

DFS = Path(__file__).resolve().parents[2] / "tools" / "dfs.sh"
UP_TIMEOUT_S = 180  # dfs.sh bounds each of its waits at 30 s
DOWN_TIMEOUT_S = 120

_up: set[Path] = set()  # state dirs of clusters not yet taken down


@dataclass(frozen=True)
class Cluster:
    state: Path
    mounts: list[Path]
    master_host: str
    master_port: int
    master_pid: int
    chunkserver_pids: list[int]
    mount_pids: list[int]
    relay_pid: int | None
    netns: str
    delay_ms: float
    capacity_bytes: int | None

    @property
    def master_address(self) -> str:
        """host:port for mfscli -H/-P and the mounts."""
        return f"{self.master_host}:{self.master_port}"

    def _dfs(self, cmd: str, arg: str) -> str:
        """Runs `tools/dfs.sh CMD STATE ARG` on this cluster; its stdout."""
        r = subprocess.run(
            ["bash", str(DFS), cmd, str(self.state), arg],
            capture_output=True,
            text=True,
            timeout=UP_TIMEOUT_S,
        )
        if r.returncode != 0:
            raise RuntimeError(f"tools/dfs.sh {cmd} {self.state} {arg} failed: {r.stderr.strip()}")
        return r.stdout

    def remount(self, i: int) -> None:
        """Replaces mount i by a fresh one (after a test killed or stopped its
        mfsmount); mount_pids[i] names the new process."""
        out = self._dfs("remount", str(i))
        self.mount_pids[:] = [int(p) for p in parse_env(out)["DFS_MOUNT_PIDS"].split()]

    def set_delay(self, ms: float) -> None:
        """Changes the delay relay's delay (ms per direction) while the cluster
        runs (tools/dfs.sh delay); needs a cluster started with a delay.
        delay_ms keeps the delay it started with."""
        self._dfs("delay", f"{ms:g}")

    @contextlib.contextmanager
    def stopped(self, pids: Iterable[int]) -> Iterator[None]:
        """SIGSTOP the given daemons for the block, SIGCONT them after it."""
        pids = list(pids)
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        try:
            yield
        finally:
            for pid in pids:
                os.kill(pid, signal.SIGCONT)


def check() -> str | None:
    """None when tools/dfs.sh can run here, else the reason it cannot."""
    try:
        r = subprocess.run(["bash", str(DFS), "check"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"tools/dfs.sh check did not run: {e}"
    if r.returncode == 0:
        return None
    out = (r.stdout + r.stderr).strip()
    return out.rpartition("cannot run MooseFS here: ")[2] or f"dfs.sh check exited {r.returncode}"


def parse_env(text: str) -> dict[str, str]:
    """The KEY=value lines dfs.sh writes (values shell-quoted)."""
    env = {}
    for line in text.splitlines():
        words = shlex.split(line)
        if len(words) == 1 and "=" in words[0]:
            k, _, v = words[0].partition("=")
            env[k] = v
    return env


def _cluster(env: dict[str, str]) -> Cluster:
    def pids(name: str) -> list[int]:
        return [int(p) for p in env[name].split()]

    return Cluster(
        state=Path(env["DFS_STATE"]),
        mounts=[Path(p) for p in env["DFS_MOUNTS"].split()],
        master_host=env["DFS_MASTER_HOST"],
        master_port=int(env["DFS_MASTER_PORT"]),
        master_pid=int(env["DFS_MASTER_PID"]),
        chunkserver_pids=pids("DFS_CHUNKSERVER_PIDS"),
        mount_pids=pids("DFS_MOUNT_PIDS"),
        relay_pid=int(env["DFS_RELAY_PID"]) if env["DFS_RELAY_PID"] else None,
        netns=env["DFS_NETNS"],
        delay_ms=float(env["DFS_DELAY_MS"]),
        capacity_bytes=int(env["DFS_CAPACITY_BYTES"]) if env["DFS_CAPACITY_BYTES"] else None,
    )


def down(state: Path) -> None:
    r = subprocess.run(
        ["bash", str(DFS), "down", str(state)],
        capture_output=True,
        text=True,
        timeout=DOWN_TIMEOUT_S,
    )
    _up.discard(Path(state))
    if r.returncode != 0:
        raise RuntimeError(f"tools/dfs.sh down {state} failed: {r.stderr.strip()}")


@atexit.register
def _down_all() -> None:
    for state in list(_up):
        try:
            down(state)
        except (OSError, RuntimeError, subprocess.TimeoutExpired) as e:
            print(f"dfs: {e}", file=sys.stderr)


@contextlib.contextmanager
def moosefs(
    state_dir: Path | str,
    mounts: int = 3,
    chunkservers: int = 2,
    delay_ms: float = 0,
    capacity: int | str | None = None,
    goal: int = 1,
) -> Iterator[Cluster]:
    """Brings a cluster up under state_dir (which must not hold a running one)
    and takes it down when the block exits."""
    state = Path(state_dir).resolve()
    args = ["--mounts", str(mounts), "--chunkservers", str(chunkservers)]
    args += ["--delay-ms", str(delay_ms), "--goal", str(goal)]
    if capacity is not None:
        args += ["--capacity", str(capacity)]
    _up.add(state)
    try:
        r = subprocess.run(
            ["bash", str(DFS), "up", str(state), *args],
            capture_output=True,
            text=True,
            timeout=UP_TIMEOUT_S,
        )
        if r.returncode != 0:
            raise RuntimeError(f"tools/dfs.sh up {state} exited {r.returncode}: {r.stderr.strip()}")
        yield _cluster(parse_env(r.stdout))
    finally:
        failing = sys.exc_info()[0] is not None
        try:
            down(state)
        except (RuntimeError, subprocess.TimeoutExpired):
            if not failing:  # never hide the block's own error behind this one
                raise
