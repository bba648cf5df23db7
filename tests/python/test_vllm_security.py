"""The vLLM tier with auth_key_file and encrypt: stores are sealed, loads
verified, and a tier with another key never hits them."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

pytest.importorskip("vllm")
from vllm.v1.kv_offload.base import LookupResult  # noqa: E402

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from test_vllm_tier import keys_for, payload  # noqa: E402
from vllm_harness import Engine, make_manager  # noqa: E402


def key_file(tmp_path: Path, name: str, byte: str) -> str:
    p = tmp_path / name
    p.write_text(byte * 64 + "\n")
    os.chmod(p, 0o400)
    return str(p)


def test_encrypted_tier_round_trip_and_other_key_misses(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    a = key_file(tmp_path, "a", "a")
    b = key_file(tmp_path, "b", "b")
    eng = Engine(make_manager(str(root), tier={"auth_key_file": a, "encrypt": True}))
    keys = keys_for(3)
    try:
        eng.store(keys, [payload(k) for k in keys])
        eng.evict_primary()
        assert eng.lookup(keys) == [LookupResult.HIT] * len(keys)
        for k, data in zip(keys, eng.load(keys)):
            assert data == payload(k)
        ns = Path(eng.tier.store.namespace_dir)
        assert '"auth_key_id"' in (ns / "fingerprint.json").read_text()
    finally:
        eng.shutdown()
    for f in root.rglob("*.kv"):
        body = f.read_bytes()
        assert all(payload(k)[:64] not in body for k in keys)
    other = Engine(make_manager(str(root), tier={"auth_key_file": b}))
    try:
        assert other.lookup(keys) == [LookupResult.MISS] * len(keys)
    finally:
        other.shutdown()


def test_bad_key_file_fails_tier_creation(tmp_path):
    p = tmp_path / "keys"
    p.write_text("a" * 64 + "\n")
    os.chmod(p, 0o644)
    with pytest.raises(ValueError, match="mode 0644"):
        make_manager(str(tmp_path), tier={"auth_key_file": str(p)})
