"""kvtier as a secondary (shared-storage) tier of vLLM's TieringOffloadingSpec.

Enable with configuration only::

    --kv-transfer-config '{"kv_connector":"OffloadingConnector","kv_role":"kv_both",
      "kv_connector_extra_config":{"spec_name":"TieringOffloadingSpec",
        "cpu_bytes_to_use":...,"block_size":256,
        "secondary_tiers":[{"type":"KvtierTier","module_path":"kvtier.vllm",
                            "root_dir":"/mnt/lustre/kv-cache"}]}}'

vLLM keeps its CPU-RAM tier; this tier moves chunks between that tier's
slots and the shared directory. Every method returns without waiting on the
filesystem: stores and loads are native jobs spread over all I/O threads,
lookups are batched existence checks resolved off the scheduler thread.
Written against vLLM 0.33.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from vllm.distributed.kv_transfer.kv_connector.v1.offloading.metrics import (
    OffloadingConnectorStats,
)
from vllm.v1.kv_offload.base import (
    LookupResult,
    Medium,
    OffloadingCounterMetadata,
    OffloadingGaugeMetadata,
    OffloadingMetricMetadata,
    OffloadKey,
    ReqContext,
    RequestOffloadingContext,
    ScheduleEndContext,
)
from vllm.v1.kv_offload.tiering.async_lookup import AsyncLookupManager
from vllm.v1.kv_offload.tiering.base import JobResult, SecondaryTierManager, TransferJob

import kvtier
from kvtier._store import ENGINE_STORE_OPTIONS

if TYPE_CHECKING:
    from vllm.v1.kv_offload.base import OffloadingSpec
    from vllm.v1.kv_offload.tiering.backpressure import BackpressureDetector

# Tier options (beside vLLM's own "type", "module_path", "locality",
# "backpressure") and their defaults. Anything else is an error.
TIER_OPTIONS: dict[str, Any] = {
    **ENGINE_STORE_OPTIONS,
    "hash_algo": "sha256",  # must equal vLLM's --prefix-caching-hash-algo
}
# vLLM seeds these block hashes at random per process unless PYTHONHASHSEED
# is set: without it no two engines ever produce the same keys.
_SEEDED_PER_PROCESS_HASHES = {"xxhash", "xxhash_cbor"}

# kvtier counters re-exported through vLLM's own offloading metrics (its
# /metrics endpoint), as deltas per scheduler step. kvtier stats key ->
# (vLLM metric name, help).
_COUNTERS = {
    "gets_total": ("vllm:kvtier_loads", "Chunk loads attempted from the kvtier tier"),
    "get_hits_total": ("vllm:kvtier_load_hits", "Chunk loads served and verified"),
    "get_misses_total": ("vllm:kvtier_load_misses", "Chunk loads that found no usable chunk"),
    "get_errors_total": ("vllm:kvtier_load_errors", "Chunk loads failed by I/O errors"),
    "puts_stored_total": ("vllm:kvtier_stores", "Chunks published to the shared directory"),
    "puts_existing_total": ("vllm:kvtier_stores_existing", "Stores skipped: already there"),
    "puts_dropped_total": ("vllm:kvtier_stores_dropped", "Stores shed: write queue full"),
    "put_errors_total": ("vllm:kvtier_store_errors", "Stores failed (ENOSPC, EIO, EACCES)"),
    "corrupt_removed_total": ("vllm:kvtier_corrupt_removed", "Chunk files rejected and removed"),
    "lookups_total": ("vllm:kvtier_lookups", "Existence checks"),
    "lookup_hits_total": ("vllm:kvtier_lookup_hits", "Existence checks that found a chunk"),
    "jobs_timed_out_total": ("vllm:kvtier_jobs_timed_out", "Jobs completed by their I/O deadline"),
    "late_completions_total": (
        "vllm:kvtier_late_completions",
        "Chunk operations that returned after their job's deadline (discarded)",
    ),
}
# Labelled counters: kvtier stats key prefix -> (vLLM metric name, help, label).
_LABELLED = {
    "verify_failures_total.": (
        "vllm:kvtier_verify_failures",
        "Chunk files rejected by verification, by reason",
        "reason",
    ),
    "io_timeouts_total.": (
        "vllm:kvtier_io_timeouts",
        "Keys failed because their job's I/O deadline passed, by op",
        "op",
    ),
}
_GAUGES = {
    "write_queue_bytes": ("vllm:kvtier_write_queue_bytes", "Payload bytes queued for writing"),
    "stalled_workers": (
        "vllm:kvtier_stalled_workers",
        "I/O workers inside one operation for longer than io_timeout_s",
    ),
}


def vllm_version_family() -> str:
    import vllm

    parts = vllm.__version__.split(".")
    return ".".join(parts[:2])


def build_fingerprint(
    spec: OffloadingSpec, chunk_bytes: int, options: dict[str, Any]
) -> dict[str, Any]:
    """Everything two engines must agree on to share a chunk.

    Model, revision, KV dtype, every KV cache group (its layer names and
    tokens per block), tokens per hash and blocks per chunk, the bytes of a
    chunk (which pins the layout), the parallel layout (unless vLLM says the
    block is parallelism-agnostic), the block-hash algorithm, PYTHONHASHSEED
    when that algorithm needs it, and the tenant salt.
    """
    cfg = spec.config
    fp: dict[str, Any] = {
        "engine": "vllm",
        "engine_version_family": vllm_version_family(),
        "model": cfg.model.name,
        "model_revision": str(options["model_revision"]),
        "kv_dtype": str(cfg.model.dtype),
        "kv_cache_groups": [
            {"tokens_per_block": g.tokens_per_block, "layer_names": list(g.layer_names)}
            for g in cfg.groups
        ],
        "tokens_per_hash": cfg.cache.tokens_per_hash,
        "blocks_per_chunk": cfg.cache.blocks_per_chunk,
        "chunk_bytes": chunk_bytes,
        "canonical_layout": bool(cfg.canonical_layout),
        "kv_cache_layout": cfg.kv_cache_layout,
        "hash_algo": str(options["hash_algo"]),
        "cache_salt": str(options["cache_salt"]),
        "format": 1,
    }
    par = cfg.parallel
    if not (par.is_parallelism_agnostic or cfg.replicated_layout):
        fp["parallel"] = {
            "tp": par.tp_size,
            "pp": par.pp_size,
            "pcp": par.pcp_size,
            "dcp": par.dcp_size,
            "rank": par.rank,
        }
    # PYTHONHASHSEED, when set, reseeds the block-hash chain on every engine.
    fp["pythonhashseed"] = os.environ.get("PYTHONHASHSEED", "")
    if fp["hash_algo"] in _SEEDED_PER_PROCESS_HASHES and not fp["pythonhashseed"]:
        raise ValueError(
            f"hash_algo {fp['hash_algo']!r} is seeded per process: set PYTHONHASHSEED "
            "to the same value on every engine that shares this cache"
        )
    return fp


class _Lookups(AsyncLookupManager):
    """vLLM's batching/RETRY state machine, answered by kvtier's parallel,
    cached existence checks (GIL released)."""

    def __init__(self, store: kvtier.Store, tier_type: str) -> None:
        super().__init__(tier_type=tier_type)
        self._store = store

    def batch_lookup(self, keys: list[OffloadKey], req_context: ReqContext) -> Iterable[bool]:
        return self._store.contains(keys)


@dataclass
class _Pending:
    vllm_job_id: int
    keys: list[OffloadKey]
    is_load: bool
    submitted: float


class KvtierTier(SecondaryTierManager):
    """Shared-filesystem tier backed by a kvtier Store."""

    medium: ClassVar[Medium] = Medium.STORAGE

    def __init__(
        self,
        offloading_spec: OffloadingSpec,
        primary_kv_view: memoryview,
        tier_type: str,
        backpressure_detector: BackpressureDetector | None = None,
        locality: str | None = None,
        **options: Any,
    ) -> None:
        super().__init__(offloading_spec, primary_kv_view, tier_type, backpressure_detector)
        unknown = sorted(set(options) - set(TIER_OPTIONS))
        if unknown:
            raise ValueError(
                f"unknown kvtier tier option(s) {unknown}; known: {sorted(TIER_OPTIONS)}"
            )
        opts = {**TIER_OPTIONS, **options}
        if not opts["root_dir"]:
            raise ValueError("kvtier tier needs 'root_dir' (the shared cache directory)")
        if locality is not None:
            from vllm.v1.kv_offload.base import Locality

            self.locality = Locality(locality)
        self._chunk_bytes = self.block_size_bytes
        self._slots = primary_kv_view.cast("B") if primary_kv_view.ndim != 1 else primary_kv_view
        self.fingerprint = build_fingerprint(offloading_spec, self._chunk_bytes, opts)
        os.makedirs(opts["root_dir"], exist_ok=True)
        self.store = kvtier.Store(
            opts["root_dir"],
            self.fingerprint,
            read_threads=int(opts["read_threads"]),
            write_threads=int(opts["write_threads"]),
            io_backend=str(opts["io_backend"]),
            direct_io=opts["direct_io"],
            verify=bool(opts["verify"]),
            durable=bool(opts["durable"]),
            touch_interval_s=float(opts["touch_interval_s"]),
            max_queued_write_bytes=int(opts["max_queued_write_bytes"]),
            lookup_cache_s=float(opts["lookup_cache_s"]),
            chunk_bytes=self._chunk_bytes,
            io_timeout_s=float(opts["io_timeout_s"]),
            file_mode=opts["file_mode"],
            dir_mode=opts["dir_mode"],
            group=opts["group"],
        )
        self._lookups = _Lookups(self.store, tier_type)
        self._pending: dict[int, _Pending] = {}  # native job id -> vLLM job
        self._finished: list[JobResult] = []
        self._reported: dict[str, float] = {}  # counter values already exported

    # Lookups ---------------------------------------------------------------------
    def lookup(self, key: OffloadKey, req_context: ReqContext) -> LookupResult:
        found = self._lookups.lookup(key, req_context)
        if found is None:
            return LookupResult.RETRY
        return LookupResult.HIT if found else LookupResult.MISS

    def on_new_request(self, req_context: ReqContext) -> RequestOffloadingContext:
        return RequestOffloadingContext()

    def on_request_finished(self, req_context: ReqContext) -> None:
        self._lookups.cleanup(req_context.req_id)

    def on_schedule_end(self, context: ScheduleEndContext) -> None:
        self._lookups.flush()

    # Transfers ---------------------------------------------------------------------
    def _slot_views(self, chunk_ids: Iterable[int]) -> list[memoryview]:
        b = self._chunk_bytes
        return [self._slots[int(c) * b : (int(c) + 1) * b] for c in chunk_ids]

    def submit_store(self, job_metadata: TransferJob) -> None:
        keys = list(job_metadata.keys)
        native = self.store.submit_put(keys, self._slot_views(job_metadata.chunk_ids))
        self._track(native, job_metadata.job_id, keys, is_load=False)

    def submit_load(self, job_metadata: TransferJob) -> None:
        keys = list(job_metadata.keys)
        native = self.store.submit_get(keys, self._slot_views(job_metadata.chunk_ids))
        self._track(native, job_metadata.job_id, keys, is_load=True)

    def _track(self, native: int, job_id: int, keys: list[OffloadKey], is_load: bool) -> None:
        now = time.monotonic()
        if native == 0:  # refused: too many pending jobs; nothing was queued
            self._finish(_Pending(job_id, keys, is_load, now), [False] * len(keys))
            return
        self._pending[native] = _Pending(job_id, keys, is_load, now)

    def _finish(self, job: _Pending, ok: list[bool]) -> None:
        done = sum(ok)
        success = done == len(ok)
        successful_keys = None
        if job.is_load and not success:
            # vLLM recomputes exactly the keys that failed; forget their
            # HIT verdicts so the scheduler does not retry a doomed load.
            self._lookups.mark_miss([k for k, good in zip(job.keys, ok) if not good])
            kept = tuple(k for k, good in zip(job.keys, ok) if good)
            successful_keys = kept or None
        self._finished.append(
            JobResult(
                job_id=job.vllm_job_id,
                success=success,
                successful_keys=successful_keys,
                transfer_time=time.monotonic() - job.submitted,
                transfer_bytes=done * self._chunk_bytes,
            )
        )

    def get_finished_jobs(self) -> Iterable[JobResult]:
        for r in self.store.poll():
            job = self._pending.pop(r.job_id, None)
            if job is not None:
                self._finish(job, r.ok)
        out, self._finished = self._finished, []
        return out

    def has_pending_work(self) -> bool:
        return bool(self._pending)

    def drain_jobs(self) -> None:
        # Each wait ends at the latest at its job's deadline, so the drain
        # returns within io_timeout_s of the newest job's submission.
        for native in list(self._pending):
            ok = self.store.wait(native)
            job = self._pending.pop(native)
            # None: collected elsewhere (cannot happen: this tier is the only
            # consumer); count it as failed rather than guess.
            self._finish(job, ok if ok is not None else [False] * len(job.keys))

    def shutdown(self) -> None:
        # Returns within io_timeout_s + 0.1 s even if the mount never answers
        # again (workers stuck in the kernel are left behind, and never touch
        # vLLM's slots: Store.close).
        self._lookups.shutdown()
        self.store.close()

    # Observability -----------------------------------------------------------------
    @classmethod
    def build_metric_definitions(
        cls, extra_config: dict[str, Any]
    ) -> dict[str, OffloadingMetricMetadata]:
        defs: dict[str, OffloadingMetricMetadata] = {
            name: OffloadingCounterMetadata(documentation=doc) for name, doc in _COUNTERS.values()
        }
        for name, doc, label in _LABELLED.values():
            defs[name] = OffloadingCounterMetadata(documentation=doc, labelnames=(label,))
        for name, doc in _GAUGES.values():
            defs[name] = OffloadingGaugeMetadata(documentation=doc)
        return defs

    def get_stats(self) -> OffloadingConnectorStats | None:
        """kvtier's counters since the last call, for vLLM's metrics."""
        current = self.store.stats()
        stats = OffloadingConnectorStats()
        for key, (name, _) in _COUNTERS.items():
            delta = current.get(key, 0) - self._reported.get(key, 0)
            if delta:
                stats.increase_counter(name, delta)
                self._reported[key] = current[key]
        for key, value in current.items():
            for prefix, (name, _, _) in _LABELLED.items():
                if key.startswith(prefix):
                    delta = value - self._reported.get(key, 0)
                    if delta:
                        stats.increase_counter(name, delta, (key[len(prefix) :],))
                        self._reported[key] = value
        for key, (name, _) in _GAUGES.items():
            stats.set_gauge(name, current.get(key, 0))
        return stats

    def stats(self) -> dict[str, Any]:
        """kvtier's own counters (hits, misses, verify failures, drops, ...)."""
        return self.store.stats()

    def metrics_text(self) -> str:
        return self.store.metrics_text()


# Short alias for configs: {"type": "KvtierTier", "module_path": "kvtier.vllm"}.
__all__ = ["KvtierTier", "TIER_OPTIONS", "build_fingerprint"]
