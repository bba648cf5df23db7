"""The tier reads vLLM's own settings instead of duplicating them: the
block-hash algorithm, the model revision, and when the parallel layout may
leave the fingerprint. Each case of issue 14, point 6, as a new user would
meet it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

vllm = pytest.importorskip("vllm")
from vllm.config import (  # noqa: E402
    CacheConfig,
    DeviceConfig,
    ModelConfig,
    VllmConfig,
    set_current_vllm_config,
)

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from vllm_events_harness import kvtier_tier, make_manager  # noqa: E402


def engine_config(hash_algo: str = "sha256", **kw) -> VllmConfig:
    return VllmConfig(
        device_config=DeviceConfig(device="cpu"),
        cache_config=CacheConfig(prefix_caching_hash_algo=hash_algo),
        **kw,
    )


def tier_of(mgr):
    return mgr.secondary_tiers[0]


def open_tier(root, *, tier_options=None, **kw):
    mgr = make_manager(kvtier_tier(str(root), **(tier_options or {})), events=False, **kw)
    tier = tier_of(mgr)
    return mgr, tier.fingerprint, tier.store.namespace_dir


def test_hash_algo_comes_from_vllm(tmp_path, monkeypatch):
    """vLLM on xxhash, tier options at their defaults: the tier follows vLLM
    (it used to fingerprint sha256 and start, and two engines never met)."""
    monkeypatch.delenv("PYTHONHASHSEED", raising=False)
    with set_current_vllm_config(engine_config("xxhash")):
        # xxhash is seeded per process without PYTHONHASHSEED: refused.
        with pytest.raises(ValueError, match="PYTHONHASHSEED"):
            make_manager(kvtier_tier(str(tmp_path)), events=False)
        monkeypatch.setenv("PYTHONHASHSEED", "0")
        mgr, fp, ns_a = open_tier(tmp_path)
        mgr.shutdown()
        assert fp["hash_algo"] == "xxhash"
        # The same value given explicitly is fine; another one is refused.
        mgr, fp, ns_b = open_tier(tmp_path, tier_options={"hash_algo": "xxhash"})
        mgr.shutdown()
        assert ns_b == ns_a
        with pytest.raises(ValueError, match="prefix-caching-hash-algo 'xxhash'"):
            make_manager(kvtier_tier(str(tmp_path), hash_algo="sha256"), events=False)


def test_hash_algo_found_on_the_connectors_stack(tmp_path):
    """vLLM's scheduler does not set the current-config context; the
    offloading connector holds vllm_config while it builds the tier."""

    def connector_init(vllm_config: VllmConfig):  # as OffloadingConnector.__init__
        return make_manager(kvtier_tier(str(tmp_path)), events=False)

    mgr = connector_init(engine_config("sha256_cbor"))
    try:
        assert tier_of(mgr).fingerprint["hash_algo"] == "sha256_cbor"
    finally:
        mgr.shutdown()


def test_without_vllms_config_the_option_or_sha256(tmp_path):
    mgr, fp, _ = open_tier(tmp_path)
    mgr.shutdown()
    assert fp["hash_algo"] == "sha256"
    mgr, fp, _ = open_tier(tmp_path, tier_options={"hash_algo": "sha256_cbor"})
    mgr.shutdown()
    assert fp["hash_algo"] == "sha256_cbor"


def test_parallel_layout_stays_unless_canonical(tmp_path):
    """A head-sharded direct-layout block that vLLM 0.33 calls
    parallelism-agnostic: TP1 and TP2 get different namespaces (their
    chunks' bytes are ordered differently). In the canonical layout, which
    is topology-free, they share one."""
    namespaces = {}
    for canonical in (False, True):
        for tp in (1, 2):
            mgr, fp, ns = open_tier(tmp_path, tp=tp, agnostic=True, canonical=canonical)
            mgr.shutdown()
            namespaces[canonical, tp] = ns
            assert ("parallel" in fp) is not canonical
    assert namespaces[False, 1] != namespaces[False, 2]
    assert namespaces[True, 1] == namespaces[True, 2]
    # Canonical but not certified agnostic: kept apart as well.
    mgr, fp, ns = open_tier(tmp_path, tp=2, agnostic=False, canonical=True)
    mgr.shutdown()
    assert fp["parallel"]["tp"] == 2 and ns != namespaces[True, 2]


def test_model_revision_comes_from_vllm(tmp_path):
    """The same model path with re-published weights (vLLM's --revision)
    gets a new namespace without the tier's model_revision option; the
    option, when given, wins."""
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "config.json").write_text(TINY_LLAMA)
    namespaces = {}
    for revision in ("r1", "r2"):
        model = ModelConfig(
            model=str(model_dir), revision=revision, skip_tokenizer_init=True, dtype="bfloat16"
        )
        with set_current_vllm_config(engine_config(model_config=model)):
            mgr, fp, namespaces[revision] = open_tier(tmp_path / "cache")
            mgr.shutdown()
            assert fp["model_revision"] == revision
            mgr, fp, _ = open_tier(tmp_path / "cache", tier_options={"model_revision": "pinned"})
            mgr.shutdown()
            assert fp["model_revision"] == "pinned"
    assert namespaces["r1"] != namespaces["r2"]


TINY_LLAMA = """{"architectures": ["LlamaForCausalLM"], "model_type": "llama",
 "hidden_size": 64, "intermediate_size": 128, "num_attention_heads": 4,
 "num_key_value_heads": 2, "num_hidden_layers": 2, "vocab_size": 256,
 "max_position_embeddings": 512, "torch_dtype": "bfloat16", "rms_norm_eps": 1e-5}"""
