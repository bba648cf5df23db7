"""Real SGLang objects on the CPU for kvtier.sglang's tests and benchmark:
its host memory pool and its storage backend factory.

Imported before anything from sglang. SGLang's package imports torchvision
at module level (for vision models' preprocessing) on every import path,
including the KV cache modules. PyPI has no torchvision for the CPU torch
these tests use (its wheels link CUDA torch), and installing one breaks
transformers' imports for vLLM's tests, so when torchvision is absent an
empty stand-in module is registered for the few names SGLang imports;
nothing on the KV paths calls them (an attribute use would raise).
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
import types

import torch


def _torchvision_stand_in() -> None:
    if importlib.util.find_spec("torchvision") is not None:
        return
    # transformers caches "no torchvision" here before the stand-in exists.
    from transformers.utils import import_utils

    import_utils.is_torchvision_available()
    import_utils.is_torchvision_v2_available()
    tv = types.ModuleType("torchvision")
    tv.__path__ = []  # a package, so its submodules import
    transforms = types.ModuleType("torchvision.transforms")
    functional = types.ModuleType("torchvision.transforms.functional")

    class InterpolationMode:  # only named at import time by SGLang
        pass

    functional.InterpolationMode = transforms.InterpolationMode = InterpolationMode
    transforms.functional = functional
    tv.transforms = transforms
    for m in (tv, transforms, functional):
        # A spec (no loader) for importlib.util.find_spec callers; with no
        # distribution metadata, transformers still reports it unavailable.
        m.__spec__ = importlib.machinery.ModuleSpec(m.__name__, None, is_package=m is tv)
        sys.modules[m.__name__] = m


_torchvision_stand_in()

from sglang.srt.mem_cache.device_pool_info import (  # noqa: E402
    KVBufferLayout,
    KVBuffers,
    MHABufferInfo,
)
from sglang.srt.mem_cache.hicache_storage import HiCacheStorageConfig  # noqa: E402
from sglang.srt.mem_cache.pool_host.mha import MHATokenToKVPoolHost  # noqa: E402
from sglang.srt.mem_cache.storage.backend_factory import StorageBackendFactory  # noqa: E402

MODEL = "test/tiny-llama"


def make_pool(
    layout: str = "page_first_direct",
    layers: int = 4,
    heads: int = 2,
    head_dim: int = 64,
    page_size: int = 16,
    pages: int = 16,
    dtype: torch.dtype = torch.bfloat16,
) -> MHATokenToKVPoolHost:
    """SGLang's MHA host pool, as its cache controller builds it, on the CPU.

    The "device" K/V buffers are CPU tensors of one page; only their
    geometry matters to the host pool.
    """
    k = tuple(torch.zeros(page_size, heads, head_dim, dtype=dtype) for _ in range(layers))
    v = tuple(torch.zeros(page_size, heads, head_dim, dtype=dtype) for _ in range(layers))
    info = MHABufferInfo(
        buffers=KVBuffers(
            k=k,
            v=v,
            k_data_ptrs=torch.tensor([t.data_ptr() for t in k], dtype=torch.uint64),
            v_data_ptrs=torch.tensor([t.data_ptr() for t in v], dtype=torch.uint64),
            layout=KVBufferLayout.NHD,
        ),
        page_size=page_size,
        head_num=heads,
        head_dim=head_dim,
        v_head_dim=head_dim,
        dtype=dtype,
        device=torch.device("cpu"),
    )
    return MHATokenToKVPoolHost(
        info,
        0.0,
        0,
        page_size,
        layout,
        pin_memory=False,
        device="cpu",
        device_capacity_tokens=page_size,
        start_layer=0,
        end_layer=layers,
        host_token_capacity=pages * page_size,
    )


def storage_config(extra: dict, tp_rank: int = 0, tp_size: int = 1) -> HiCacheStorageConfig:
    return HiCacheStorageConfig(
        tp_rank=tp_rank,
        tp_size=tp_size,
        pp_rank=0,
        pp_size=1,
        attn_cp_rank=0,
        attn_cp_size=1,
        is_mla_model=False,
        enable_storage_metrics=False,
        is_page_first_layout=True,
        model_name=MODEL,
        extra_config=extra,
    )


def kvtier_extra(root: str, **opts) -> dict:
    return {
        "backend_name": "kvtier",
        "module_path": "kvtier.sglang",
        "class_name": "KvtierHiCacheStorage",
        "interface_v1": 1,
        "root_dir": str(root),
        **opts,
    }


def attach(backend_name: str, extra: dict, pool, tp_rank: int = 0, tp_size: int = 1):
    """What SGLang's cache controller does when it attaches a storage backend."""
    backend = StorageBackendFactory.create_backend(
        backend_name, storage_config(extra, tp_rank, tp_size), pool
    )
    backend.register_mem_pool_host(pool)
    backend.on_host_pools_registered()
    return backend


def fill_random(pool, indices: torch.Tensor, seed: int) -> None:
    """Random bytes in the given pages (token indices, page-aligned)."""
    g = torch.Generator().manual_seed(seed)
    ps = pool.page_size
    for i in range(0, indices.numel(), ps):
        page = pool.get_data_page(int(indices[i]), flat=True)
        rnd = torch.randint(0, 256, (page.numel() * page.element_size(),), generator=g)
        pool.set_from_flat_data_page(
            int(indices[i]), rnd.to(torch.uint8).view(pool.dtype).reshape(page.shape)
        )


def page_bytes(pool, indices: torch.Tensor) -> list[bytes]:
    ps = pool.page_size
    return [
        pool.get_data_page(int(indices[i]), flat=True).view(torch.uint8).numpy().tobytes()
        for i in range(0, indices.numel(), ps)
    ]
