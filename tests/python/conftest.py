from __future__ import annotations

import pytest

FP = {"model": "test/llama", "kv_dtype": "bfloat16", "block_size": 16, "tp": 1, "rank": 0}


@pytest.fixture
def fingerprint() -> dict:
    return dict(FP)
