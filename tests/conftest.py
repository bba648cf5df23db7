"""Shared by tests/python and tests/system: what the tests leave behind.

vLLM's SharedOffloadRegion backs each manager's CPU tier with
/dev/shm/vllm_offload_{engine_id}.mmap and unlinks it in shutdown(). A node
the tests kill with SIGKILL never gets there, so at the end of the session
the files of the tests' engines (ids "kvtier-test-...", from
vllm_harness.py) made since the session began, owned by this user and held
open or mapped by no live process (another session's are), are removed."""

from __future__ import annotations

import glob
import os
import time

import pytest

SHM_PATTERN = "/dev/shm/vllm_offload_kvtier-test-*.mmap"


def _held_paths() -> set[str]:
    """Files that live processes hold open or mapped (those this user may read)."""
    held: set[str] = set()
    for proc in glob.glob("/proc/[0-9]*"):
        try:
            with open(f"{proc}/maps") as f:
                for line in f:
                    fields = line.split(None, 5)  # the 6th, when there, is the path
                    if len(fields) == 6:
                        held.add(fields[5].rstrip("\n"))
            for fd in os.listdir(f"{proc}/fd"):
                held.add(os.readlink(f"{proc}/fd/{fd}"))
        except OSError:
            continue  # gone, or not ours to read
    return held


@pytest.fixture(autouse=True, scope="session")
def _remove_offload_regions_left_behind():
    started = time.time()
    yield
    left = glob.glob(SHM_PATTERN)
    held = _held_paths() if left else set()
    for path in left:
        try:
            st = os.lstat(path)
            if st.st_uid == os.getuid() and st.st_mtime >= started and path not in held:
                os.unlink(path)
        except OSError:
            pass
