"""What an engine's connector does around kvtier: name each full chunk of a
prompt by a hash of the whole prefix up to it, and move a model's KV between
its cache object and one flat buffer per chunk.

Keys chain like vLLM's block hashes: key(i) = SHA-256(key(i-1) || the token
ids of chunk i), so a key names the entire prefix, and two prompts share a
chunk's key only if they agree on every token before and inside it. Only
full chunks get keys; the tail of a prompt is always recomputed.

A chunk's buffer is ``[layer][k, v][kv_head][token][head_dim]`` in the
model's dtype; that layout, the dtype, the chunk size and the weights' digest
go into the store's fingerprint, so a node with anything different reads
from another namespace and never gets KV it cannot use.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

LAYOUT = "[layer][k,v][kv_head][token][head_dim]"


def chunk_keys(token_ids: Sequence[int], chunk_tokens: int) -> list[bytes]:
    """One 32-byte key per full chunk of ``token_ids``."""
    keys: list[bytes] = []
    parent = b""
    for start in range(0, len(token_ids) - chunk_tokens + 1, chunk_tokens):
        ids = np.asarray(token_ids[start : start + chunk_tokens], dtype="<i4")
        parent = hashlib.sha256(parent + ids.tobytes()).digest()
        keys.append(parent)
    return keys


def fingerprint(config: Any, dtype: torch.dtype, chunk_tokens: int, weights: str) -> dict:
    return {
        "model": "HuggingFaceTB/SmolLM2-135M-Instruct",
        "weights_sha256": weights,
        "kv_dtype": str(dtype).removeprefix("torch."),
        "kv_layout": LAYOUT,
        "chunk_tokens": chunk_tokens,
        "num_layers": config.num_hidden_layers,
        "num_kv_heads": config.num_key_value_heads,
        "head_dim": config.head_dim,
    }


def chunk_shape(config: Any, chunk_tokens: int) -> tuple[int, ...]:
    return (
        config.num_hidden_layers,
        2,
        config.num_key_value_heads,
        chunk_tokens,
        config.head_dim,
    )


def pack(cache: Any, n_chunks: int, chunk_tokens: int) -> list[torch.Tensor]:
    """The first ``n_chunks`` full chunks of a DynamicCache (batch 1), one
    contiguous tensor each."""
    out = []
    for c in range(n_chunks):
        s, e = c * chunk_tokens, (c + 1) * chunk_tokens
        per_layer = [
            torch.stack((lay.keys[0, :, s:e], lay.values[0, :, s:e])) for lay in cache.layers
        ]
        out.append(torch.stack(per_layer).contiguous())
    return out


def unpack(chunks: Sequence[torch.Tensor], config: Any) -> Any:
    """A DynamicCache holding the concatenated chunks, as if the model had
    just prefilled their tokens."""
    from transformers import DynamicCache

    cache = DynamicCache(config=config)
    if not chunks:
        return cache
    kv = torch.cat(list(chunks), dim=3)  # [layer][k,v][head][all tokens][dim]
    for layer in range(kv.shape[0]):
        cache.update(kv[layer, 0].unsqueeze(0), kv[layer, 1].unsqueeze(0), layer)
    return cache
