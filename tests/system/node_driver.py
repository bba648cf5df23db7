"""The test side of the system tests: drives kv_node.py processes and the
real kvtier-evictor, and lists what a mount holds.

Binaries: $KVTIER_EVICTOR and $KVTIER_CLI, else the release build's."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
EVICTOR = os.environ.get("KVTIER_EVICTOR", "build/release/src/evictor/kvtier-evictor")
CLI = os.environ.get("KVTIER_CLI", "build/release/src/cli/kvtier")


class NodeProc:
    """Drives one kv_node.py process: one JSON command a line, one reply a line;
    lines with "event" (from forked writers) are kept aside."""

    def __init__(self, name: str, mount: Path, logs: Path) -> None:
        self.name, self.mount = name, mount
        self.log = logs / f"node-{name}.log"
        self.p = subprocess.Popen(
            [sys.executable, str(HERE / "kv_node.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=open(self.log, "ab"),  # noqa: SIM115 (the child owns it)
        )
        self.buf = b""
        self.events: list[dict] = []

    def _line(self, timeout: float | None) -> dict | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not select.select([self.p.stdout], [], [], left)[0]:
                return None
            data = os.read(self.p.stdout.fileno(), 1 << 16)
            if not data:
                tail = self.log.read_text(errors="replace")[-3000:]
                raise AssertionError(f"node {self.name} exited ({self.p.poll()}): {tail}")
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def send(self, cmd: str, **kw) -> None:
        self.p.stdin.write(json.dumps({"cmd": cmd, **kw}).encode() + b"\n")
        self.p.stdin.flush()

    def reply(self, timeout: float | None = 300.0) -> dict | None:
        """The next reply; None if none came within ``timeout`` (0: poll)."""
        while True:
            msg = self._line(timeout)
            if msg is None:
                if timeout == 0:
                    return None
                raise AssertionError(f"node {self.name}: no reply within {timeout} s")
            if "event" in msg:
                self.events.append(msg)
                continue
            assert msg.get("ok"), f"node {self.name}: {msg}"
            return msg

    def call(self, cmd: str, timeout: float = 300.0, **kw) -> dict:
        self.send(cmd, **kw)
        return self.reply(timeout)

    def event(self, kind: str, pid: int, timeout: float) -> dict | None:
        deadline = time.monotonic() + timeout
        while True:
            for e in self.events:
                if e["event"] == kind and e["pid"] == pid:
                    return e
            left = deadline - time.monotonic()
            msg = self._line(max(left, 0.0)) if left > 0 else None
            if msg is None:
                return None
            assert "event" in msg, f"node {self.name}: unexpected {msg}"
            self.events.append(msg)

    def open(self, sub: str, **kw) -> dict:
        return self.call("open", root=str(self.mount / sub), **kw)

    def wait(self, timeout: float = 120) -> None:
        """For --once: its exit, with status 0."""
        try:
            self.p.wait(timeout=timeout)
        finally:
            self.stop()

    def stop(self) -> None:
        if self.p.poll() is None:
            try:
                self.send("quit")
                self.p.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                pass
        if self.p.poll() is None:
            os.kill(self.p.pid, signal.SIGKILL)
            self.p.wait()


class Evictor:
    """The real kvtier-evictor as a daemon on one mount; JSON log lines kept."""

    def __init__(self, root: Path, logs: Path, *flags: str) -> None:
        self.log = logs / f"evictor-{time.monotonic_ns()}.log"
        self.p = subprocess.Popen(
            [EVICTOR, "--port", "0", "--log-level", "debug", *flags, str(root)],
            stdout=subprocess.DEVNULL,
            stderr=open(self.log, "wb"),  # noqa: SIM115 (the child owns it)
        )

    def lines(self) -> list[dict]:
        out = []
        for line in self.log.read_text(errors="replace").splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            ts = datetime.strptime(rec["ts"], "%Y-%m-%dT%H:%M:%S.%fZ")
            rec["t"] = ts.replace(tzinfo=timezone.utc).timestamp()
            out.append(rec)
        return out

    def named(self, msg: str) -> dict[str, float]:
        """File name -> wall-clock time of each log line ``msg`` naming a path."""
        return {Path(r["path"]).name: r["t"] for r in self.lines() if r["msg"] == msg}

    def wait(self, timeout: float = 120) -> None:
        """For --once: its exit, with status 0."""
        try:
            self.p.wait(timeout=timeout)
        finally:
            self.stop()

    def stop(self) -> None:
        if self.p.poll() is None:
            os.kill(self.p.pid, signal.SIGTERM)
            try:
                self.p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.p.pid, signal.SIGKILL)
                self.p.wait()
        assert self.p.returncode == 0, self.log.read_text()[-3000:]


def files(root: Path, pred=lambda name: name.endswith(".kv")) -> dict[str, os.stat_result]:
    """Files under root by name, leaving out each namespace's journal/ (the
    evictors' removal journal and usage notes: bounded bookkeeping, not
    chunks; tests/python/test_vllm_events.py covers it)."""
    out = {}
    for d, dirs, names in os.walk(root):
        dirs[:] = [x for x in dirs if x != "journal"]
        for n in names:
            if pred(n):
                try:
                    out[n] = os.lstat(os.path.join(d, n))
                except FileNotFoundError:
                    pass  # removed while listed
    return out


def allocated(root: Path) -> int:
    return sum(st.st_blocks * 512 for st in files(root, lambda n: True).values())


def is_temp(name: str) -> bool:
    return name.startswith(".tmp.")


def need(binary: str) -> None:
    if not os.access(binary, os.X_OK):
        pytest.skip(f"{binary} not built")
