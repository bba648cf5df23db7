"""System tests on a MooseFS cluster (tools/dfs.sh). Where this machine cannot
run one (no root, no /dev/fuse, no network namespaces, packages not
installable), every test here is skipped with the reason, which the report
header also prints: never a silent skip."""

from __future__ import annotations

import functools
import signal
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dfs import Cluster, check, moosefs  # noqa: E402


@functools.cache
def unavailable() -> str | None:
    return check()


def pytest_report_header(config) -> str:
    reason = unavailable()
    if reason is None:
        return "dfs: MooseFS cluster available (tools/dfs.sh check)"
    return f"dfs: system tests SKIPPED, MooseFS cannot run here: {reason}"


def pytest_configure(config) -> None:
    # A SIGTERM (CI timeout, kill) becomes KeyboardInterrupt, so context
    # managers and fixtures unwind and every cluster is taken down.
    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupt)


@pytest.fixture(autouse=True)
def _need_dfs() -> None:
    reason = unavailable()
    if reason is not None:
        pytest.skip(f"MooseFS cannot run here: {reason}")


@pytest.fixture(scope="module")
def dfs_cluster(tmp_path_factory) -> Cluster:
    """A cluster per test module: 3 mounts, 2 chunkservers, no delay, no
    capacity."""
    reason = unavailable()
    if reason is not None:
        pytest.skip(f"MooseFS cannot run here: {reason}")
    with moosefs(tmp_path_factory.mktemp("dfs")) as cluster:
        yield cluster
