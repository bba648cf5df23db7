"""Shared by tests/python and tests/system: what the tests leave behind.

vLLM's SharedOffloadRegion backs each manager's CPU tier with
/dev/shm/vllm_offload_{engine_id}.mmap and unlinks it in shutdown(). A node
the tests kill with SIGKILL never gets there, so at the end of the session
the files of this session's engines (ids "kvtier-test-...", from
vllm_harness.py) still present are removed."""

from __future__ import annotations

import glob
import os
import time

import pytest

SHM_PATTERN = "/dev/shm/vllm_offload_kvtier-test-*.mmap"


@pytest.fixture(autouse=True, scope="session")
def _remove_offload_regions_left_behind():
    started = time.time()
    yield
    for path in glob.glob(SHM_PATTERN):
        try:
            if os.stat(path).st_mtime >= started:
                os.unlink(path)
        except FileNotFoundError:
            pass
