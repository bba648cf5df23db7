"""Drives vLLM's real TieringOffloadingManager (CPU primary tier in a real
SharedOffloadRegion) with kvtier as the secondary tier, the way the
scheduler does: prepare/complete store, reset, lookup until resolved, load."""

from __future__ import annotations

import mmap
import time
import uuid
from collections.abc import Sequence
from typing import Any

import numpy as np
from vllm.v1.kv_offload.base import LookupResult, ReqContext, ScheduleEndContext
from vllm.v1.kv_offload.config import (
    OffloadingCacheConfig,
    OffloadingConfig,
    OffloadingGroupConfig,
    OffloadingModelConfig,
    OffloadingParallelConfig,
)
from vllm.v1.kv_offload.factory import OffloadingSpecFactory

PAGE = mmap.PAGESIZE


def kvtier_tier(root: str, **options: Any) -> dict[str, Any]:
    """kvtier's entry in ``secondary_tiers``; options are added or override."""
    return {
        "type": "KvtierTier",
        "module_path": "kvtier.vllm",
        "root_dir": root,
        "read_threads": 2,
        "write_threads": 2,
        **options,
    }


def fs_tier(root: str, **options: Any) -> dict[str, Any]:
    """vLLM's built-in ``fs`` tier entry; options are added or override."""
    return {
        "type": "fs",
        "root_dir": root,
        "n_read_threads": 2,
        "n_write_threads": 2,
        **options,
    }


def offloading_config(
    tiers: Sequence[dict[str, Any]] = (),
    *,
    groups: int = 1,
    layers_per_group: int = 2,
    chunk_bytes: int = 4 * PAGE,
    tokens_per_hash: int = 16,
    slots: int = 16,
    tp: int = 1,
    agnostic: bool = True,
    canonical: bool = False,
    events: bool = False,
    model: str = "org/tiny-model",
    max_model_len: int = 4096,
    engine_id: str | None = None,
) -> OffloadingConfig:
    """The OffloadingConfig vLLM hands a TieringOffloadingSpec, for one rank
    (rank 0) of a tp-way engine, pp/pcp/dcp/dp 1.

    tiers: the ``secondary_tiers`` entries beneath the CPU tier.
    groups x layers_per_group: KV cache groups, 16 tokens per block, layers
      named model.layers.<n>.attn in order.
    chunk_bytes: one chunk (one block) summed over the tp ranks; each rank
      holds chunk_bytes // tp, as in a head-sharded model, so the chunk has
      the same size for any tp.
    slots: chunks the CPU tier holds (cpu_bytes_to_use = slots * chunk_bytes).
    agnostic / canonical: vLLM's is_parallelism_agnostic / canonical_layout.
    events: enable_kv_cache_events.
    engine_id: a fresh unique one when None.
    """
    return OffloadingConfig(
        groups=tuple(
            OffloadingGroupConfig(
                tokens_per_block=16,
                layer_names=tuple(
                    f"model.layers.{g * layers_per_group + i}.attn" for i in range(layers_per_group)
                ),
                group_id=g,
            )
            for g in range(groups)
        ),
        worker_kv_bytes_per_block=chunk_bytes // tp,
        enable_kv_cache_events=events,
        extra_config={
            "spec_name": "TieringOffloadingSpec",
            "cpu_bytes_to_use": slots * chunk_bytes,
            "secondary_tiers": list(tiers),
        },
        engine_id=engine_id or f"kvtier-test-{uuid.uuid4().hex[:8]}",
        model=OffloadingModelConfig(name=model, dtype="bfloat16", max_model_len=max_model_len),
        cache=OffloadingCacheConfig(tokens_per_hash=tokens_per_hash, blocks_per_chunk=1),
        parallel=OffloadingParallelConfig(
            rank=0,
            world_size=tp,
            tp_size=tp,
            pp_size=1,
            pcp_size=1,
            dcp_size=1,
            data_parallel_index=0,
            data_parallel_size=1,
            data_parallel_rank_local=None,
            is_parallelism_agnostic=agnostic,
        ),
        canonical_layout=canonical,
    )


def manager_for(cfg: OffloadingConfig):
    """The TieringOffloadingManager vLLM's factory builds from cfg."""
    return OffloadingSpecFactory.create_spec(cfg).get_manager()


def make_manager(
    root: str,
    *,
    groups: int = 1,
    slots: int = 16,
    chunk_pages: int = 4,
    tier: dict[str, Any] | None = None,
    model: str = "org/tiny-model",
):
    """A manager with kvtier (over root, plus the tier options) beneath it."""
    cfg = offloading_config(
        [kvtier_tier(root, **(tier or {}))],
        groups=groups,
        slots=slots,
        chunk_bytes=chunk_pages * PAGE,
        model=model,
    )
    return manager_for(cfg)


class Engine:
    """A thin scheduler stand-in around one manager."""

    def __init__(self, mgr) -> None:
        self.mgr = mgr
        view = mgr.primary_tier.get_kv_memoryview()
        self.slots = np.frombuffer(view, dtype=np.uint8).reshape(view.shape)
        self.tier = mgr.secondary_tiers[0]
        self._n = 0

    def step(self, new=()) -> None:
        with self.mgr.lock:
            ctx = ScheduleEndContext(new_req_ids=list(new), preempted_req_ids=())
            self.mgr.on_schedule_end(ctx)

    def store(self, keys, payloads) -> None:
        """GPU->CPU copy (simulated) then vLLM cascades to kvtier; waits for it."""
        ctx = self._ctx()
        with self.mgr.lock:
            self.mgr.on_new_request(ctx)
            out = self.mgr.prepare_store(keys, ctx)
        for k, cid in zip(out.keys_to_store, out.store_spec.chunk_ids):
            self.slots[cid, :] = np.frombuffer(payloads[keys.index(k)], dtype=np.uint8)
        with self.mgr.lock:
            self.mgr.complete_store(out.keys_to_store, ctx, success=True)
            self.mgr.on_request_finished(ctx)
        self.step([ctx.req_id])
        self.drain()

    def drain(self) -> None:
        for _ in range(3):
            with self.mgr.lock:
                self.tier.drain_jobs()
            self.step()

    def evict_primary(self) -> None:
        with self.mgr.lock:
            self.mgr.reset_cache()
            self.mgr.on_reset_flushed()
        self.slots[:] = 0

    def lookup(self, keys, tries: int = 200, trace: list | None = None) -> list[LookupResult]:
        """Look up until no key is pending; promotions (loads) happen here.
        With ``trace``, every round's results are appended to it."""
        ctx = self._ctx()
        with self.mgr.lock:
            self.mgr.on_new_request(ctx)
        results: list[LookupResult] = []
        for _ in range(tries):
            with self.mgr.lock:
                results = [self.mgr.lookup(k, ctx) for k in keys]
            if trace is not None:
                trace.append(results)
            if all(r in (LookupResult.HIT, LookupResult.MISS) for r in results):
                break
            self.step()
            time.sleep(0.005)
        self._last_ctx = ctx
        return results

    def load(self, keys) -> list[bytes]:
        """Bytes vLLM would copy to the GPU for keys that are HIT in primary."""
        ctx = self._last_ctx
        with self.mgr.lock:
            spec = self.mgr.prepare_load(keys, ctx)
        data = [bytes(self.slots[cid]) for cid in spec.chunk_ids]
        with self.mgr.lock:
            self.mgr.complete_load(keys, ctx)
            self.mgr.on_request_finished(ctx)
        return data

    def finish_lookup(self) -> None:
        with self.mgr.lock:
            self.mgr.on_request_finished(self._last_ctx)

    def shutdown(self) -> None:
        self.mgr.shutdown()

    def _ctx(self) -> ReqContext:
        self._n += 1
        return ReqContext(req_id=f"req-{self._n}-{uuid.uuid4().hex[:6]}")
