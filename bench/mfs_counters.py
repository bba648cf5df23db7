"""The MooseFS master's per-mount operation counters, read with `mfscli -SMO`
(the current clock hour's counts, one row per client session). Shared by the
metadata benchmarks (dfs_metadata.py, dfs_metadata_sweep.py,
dfs_metadata_prefix.py, dfs_lookups.py)."""

from __future__ import annotations

import os
import subprocess

# The columns of `mfscli -SMO`, in its order ("total" last).
OPS = (
    "statfs getattr setattr lookup mkdir rmdir symlink readlink mknod unlink rename link "
    "readdir open read write total"
).split()


def mount_of(path: str) -> str:
    """The mount point that holds `path` (symlinks resolved)."""
    mount = os.path.realpath(path)
    while not os.path.ismount(mount) and mount != "/":
        mount = os.path.dirname(mount)
    return mount


class Counters:
    """The master's operation counters of one mount (this hour's)."""

    def __init__(self, master: str, mount: str) -> None:
        self.host, _, port = master.partition(":")
        self.port = port or "9421"
        self.mount = os.path.realpath(mount)

    def read(self) -> dict[str, int]:
        """Counts per operation in OPS; RuntimeError if the master lists no
        session for the mount."""
        out = subprocess.run(
            ["mfscli", "-H", self.host, "-P", self.port, "-SMO", "-m", "1"],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout
        for line in out.splitlines():
            f = line.split("\t")
            if len(f) < 3 or f[2] != self.mount:
                continue
            if len(f) != 3 + len(OPS):
                # Another MooseFS version's columns: refuse rather than misread.
                raise RuntimeError(
                    f"mfscli -SMO gave {len(f) - 3} counters for {self.mount}, "
                    f"expected {len(OPS)} ({' '.join(OPS)})"
                )
            return dict(zip(OPS, map(int, f[3:])))
        raise RuntimeError(f"the master lists no session for {self.mount}")


def master_lookups(master: str, path: str) -> int | None:
    """The master's LOOKUP count this hour for the mount that holds `path`,
    or None if it lists no session for that mount."""
    try:
        return Counters(master, mount_of(path)).read()["lookup"]
    except RuntimeError:
        return None
