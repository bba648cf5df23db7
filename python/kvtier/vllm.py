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

import logging
import os
import sys
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
    OffloadingEvent,
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
from kvtier._store import ENGINE_STORE_OPTIONS, MAX_PAYLOAD_BYTES
from kvtier.events import FORGOTTEN, STORED, AnnouncedChunks, JournalTail
from kvtier.outcome_log import OutcomeLog

if TYPE_CHECKING:
    from vllm.config import VllmConfig
    from vllm.v1.kv_offload.base import OffloadingSpec
    from vllm.v1.kv_offload.tiering.backpressure import BackpressureDetector

logger = logging.getLogger(__name__)

# Tier options (beside vLLM's own "type", "module_path", "locality",
# "backpressure") and their defaults. Anything else is an error.
TIER_OPTIONS: dict[str, Any] = {
    **ENGINE_STORE_OPTIONS,
    # None: vLLM's --prefix-caching-hash-algo when the tier can read vLLM's
    # config (a differing value is refused), else "sha256" (vLLM's default).
    "hash_algo": None,
    # As vLLM's own fs tier: stored (and, for what the evictor deletes,
    # removed) events, when vLLM publishes KV events (--kv-events-config).
    "enable_kv_events": False,
    "journal_poll_s": 1.0,  # how often the evictor's removal journal is read
    "max_announced_chunks": 200_000,  # announced-set LRU cap (kvtier.events)
}
_DEFAULT_HASH_ALGO = "sha256"
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


# The tier's own numbers (kvtier.vllm), by stats key: (vLLM metric, help).
_OWN_GAUGES = {
    "namespace_chunks": (
        "vllm:kvtier_namespace_chunks",
        "Chunks under the tier's namespace, from the evictors' last notes (-1: none yet)",
    ),
    "namespace_bytes": (
        "vllm:kvtier_namespace_bytes",
        "Bytes allocated under the tier's namespace, from the evictors' notes (-1: none yet)",
    ),
    "announced_chunks": ("vllm:kvtier_announced_chunks", "Chunks announced by stored events"),
}
_OWN_COUNTERS = {
    "events_stored_total": ("vllm:kvtier_events_stored", "Chunks announced (stored events)"),
    "events_removed_total": (
        "vllm:kvtier_events_removed",
        "Announced chunks the evictor deleted (removed events)",
    ),
    "events_forgotten_total": (
        "vllm:kvtier_events_forgotten",
        "Announced chunks dropped by the announced-set cap (no removed event)",
    ),
    "journal_bad_records_total": (
        "vllm:kvtier_journal_bad_records",
        "Removal-journal records or usage notes skipped: checksum or syntax failed",
    ),
}


def _events_or_none(
    spec: OffloadingSpec, tier_type: str, opts: dict[str, Any]
) -> AnnouncedChunks | None:
    """The announced set when events are on here and in vLLM (as the fs tier
    decides), else None."""
    if not opts["enable_kv_events"]:
        return None
    if not spec.kv_events_config.enable_kv_cache_events:
        logger.warning(
            "enable_kv_events is set on tier %r but vLLM publishes no KV events "
            "(--kv-events-config); the tier emits none",
            tier_type,
        )
        return None
    return AnnouncedChunks(int(opts["max_announced_chunks"]))


def vllm_version_family() -> str:
    import vllm

    parts = vllm.__version__.split(".")
    return ".".join(parts[:2])


def find_vllm_config() -> VllmConfig | None:
    """vLLM's engine config, when the tier can reach it.

    The offloading spec carries only a digest of it (no hash algorithm, no
    revision), so look where vLLM keeps it: the current-config context, else
    the ``vllm_config`` of a caller on this stack (the offloading connector
    builds the tier from its constructor, which holds it).
    """
    from vllm.config import VllmConfig, get_current_vllm_config_or_none

    cfg = get_current_vllm_config_or_none()
    if isinstance(cfg, VllmConfig):
        return cfg
    frame = sys._getframe(1)
    for _ in range(64):
        if frame is None:
            break
        local = frame.f_locals.get("vllm_config")
        if isinstance(local, VllmConfig):
            return local
        frame = frame.f_back
    return None


def resolve_hash_algo(option: str | None, vllm_config: VllmConfig | None) -> str:
    """The block-hash algorithm the engine really uses; a tier option that
    contradicts vLLM's config is refused (engines would never share)."""
    engine = None
    if vllm_config is not None and vllm_config.cache_config is not None:
        engine = str(vllm_config.cache_config.prefix_caching_hash_algo)
    if option is not None and engine is not None and str(option) != engine:
        raise ValueError(
            f"kvtier tier option hash_algo={option!r} but vLLM hashes blocks with "
            f"--prefix-caching-hash-algo {engine!r}: drop the option (the tier reads "
            "vLLM's) or make them equal"
        )
    return engine or (str(option) if option is not None else _DEFAULT_HASH_ALGO)


def weights_identity(options: dict[str, Any], vllm_config: VllmConfig | None) -> dict[str, str]:
    """What pins the weights beyond the model name: the tier's
    model_revision option, else vLLM's --revision; and the quantization."""
    model = vllm_config.model_config if vllm_config is not None else None
    revision = str(options["model_revision"]) or str(getattr(model, "revision", None) or "")
    out = {"model_revision": revision}
    quantization = getattr(model, "quantization", None)
    if quantization:
        out["quantization"] = str(quantization)
    return out


def build_fingerprint(
    spec: OffloadingSpec,
    chunk_bytes: int,
    options: dict[str, Any],
    vllm_config: VllmConfig | None = None,
) -> dict[str, Any]:
    """Everything two engines must agree on to share a chunk.

    Model, revision (and quantization) of the weights, KV dtype, every KV
    cache group (its layer names and tokens per block), tokens per hash and
    blocks per chunk, the bytes of a chunk, the parallel layout (unless the
    block is in vLLM's canonical layout and vLLM certifies it as
    parallelism-agnostic or replicated), the block-hash algorithm,
    PYTHONHASHSEED when that algorithm needs it, and the tenant salt.
    """
    cfg = spec.config
    fp: dict[str, Any] = {
        "engine": "vllm",
        "engine_version_family": vllm_version_family(),
        "model": cfg.model.name,
        **weights_identity(options, vllm_config),
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
        "hash_algo": resolve_hash_algo(options["hash_algo"], vllm_config),
        "cache_salt": str(options["cache_salt"]),
        "format": 1,
    }
    par = cfg.parallel
    # Only the canonical layout is known to give the same bytes per block
    # under any topology. vLLM 0.33 also calls a head-sharded direct block
    # parallelism-agnostic, yet a TP1 and a TP2 engine order its bytes
    # differently (vLLM PR #55191): sharing it would load wrong KV.
    if not (cfg.canonical_layout and (par.is_parallelism_agnostic or cfg.replicated_layout)):
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
        if self._chunk_bytes > MAX_PAYLOAD_BYTES:
            raise ValueError(
                f"a chunk of {self._chunk_bytes} bytes is over kvtier's limit of "
                f"{MAX_PAYLOAD_BYTES}; use a smaller block_size"
            )
        self._slots = primary_kv_view.cast("B") if primary_kv_view.ndim != 1 else primary_kv_view
        self.fingerprint = build_fingerprint(
            offloading_spec, self._chunk_bytes, opts, find_vllm_config()
        )
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
            auth_key_file=opts["auth_key_file"],
            encrypt=bool(opts["encrypt"]),
            segment_bytes=int(opts["segment_bytes"]),
        )
        self._lookups = _Lookups(self.store, tier_type)
        self._announced = _events_or_none(offloading_spec, tier_type, opts)
        # Reads the evictor's journal: removals (with events on) and the
        # namespace's usage for the gauges.
        poll_s = float(opts["journal_poll_s"])
        self._tail = JournalTail(self.store.namespace_dir, self._announced, poll_s, 10 * poll_s)
        self._pending: dict[int, _Pending] = {}  # native job id -> vLLM job
        self._outcomes = OutcomeLog(logger)
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
            rejected = [kvtier.KeyOutcome.REJECTED] * len(keys)
            self._finish(_Pending(job_id, keys, is_load, now), rejected)
            return
        self._pending[native] = _Pending(job_id, keys, is_load, now)

    def _finish(self, job: _Pending, outcomes: list[kvtier.KeyOutcome]) -> None:
        self._outcomes.record("get" if job.is_load else "put", outcomes)
        self._report(job, [o == kvtier.KeyOutcome.OK for o in outcomes])

    def _report(self, job: _Pending, ok: list[bool]) -> None:
        """vLLM's result of a job: which keys it stored or loaded."""
        done = sum(ok)
        success = done == len(ok)
        if not job.is_load and self._announced is not None and done:
            # Stored or already there: this engine can serve it from the tier.
            self._announced.announce([k for k, good in zip(job.keys, ok) if good])
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
                self._finish(job, r.outcomes)
        out, self._finished = self._finished, []
        return out

    def has_pending_work(self) -> bool:
        # Pending events too: an engine still stepping publishes them now
        # instead of at its next request.
        return bool(self._pending) or (self._announced is not None and self._announced.has_events())

    def take_events(self) -> Iterable[OffloadingEvent]:
        """Stored events for chunks published (or found already there) by
        this engine's stores, removed events for those the evictor deleted
        since; in order. A chunk forgotten by the announced-set cap releases
        vLLM's bookkeeping only (metadata_only: nothing is published)."""
        if self._announced is None:
            return
        for kind, keys in self._announced.take():
            yield OffloadingEvent(
                keys=keys,
                medium=self.medium,
                removed=kind != STORED,
                locality=self.locality,
                # vLLM keeps the block's payload until this tier's removal.
                removal_expected=kind == STORED,
                metadata_only=kind == FORGOTTEN,
            )

    def drain_jobs(self) -> None:
        # Each wait ends at the latest at its job's deadline, so the drain
        # returns within io_timeout_s of the newest job's submission.
        for native in list(self._pending):
            r = self.store.wait_result(native)
            job = self._pending.pop(native)
            if r is None:
                # Collected elsewhere (cannot happen: this tier is the only
                # consumer): failed, with no outcome to count.
                logger.error("kvtier: job %d was collected elsewhere; reported failed", native)
                self._report(job, [False] * len(job.keys))
                continue
            self._finish(job, r.outcomes)

    def shutdown(self) -> None:
        # Returns within io_timeout_s + 0.1 s even if the mount never answers
        # again (workers stuck in the kernel are left behind, and never touch
        # vLLM's slots: Store.close).
        self._tail.stop()
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
        for name, doc in list(_GAUGES.values()) + list(_OWN_GAUGES.values()):
            defs[name] = OffloadingGaugeMetadata(documentation=doc)
        for name, doc in _OWN_COUNTERS.values():
            defs[name] = OffloadingCounterMetadata(documentation=doc)
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
        for key, value in self._own_stats().items():
            if key in _OWN_GAUGES:
                stats.set_gauge(_OWN_GAUGES[key][0], value)
            elif key in _OWN_COUNTERS:
                delta = value - self._reported.get(key, 0)
                if delta:
                    stats.increase_counter(_OWN_COUNTERS[key][0], delta)
                    self._reported[key] = value
        return stats

    def _own_stats(self) -> dict[str, int]:
        """The tier's numbers beside the store's: namespace usage (-1 until
        an evictor wrote it) and events."""
        usage = self._tail.usage
        out = {
            "namespace_chunks": usage[0] if usage else -1,
            "namespace_bytes": usage[1] if usage else -1,
            "journal_bad_records_total": self._tail.reader.counters.bad_records,
        }
        if self._announced is not None:
            c = self._announced.counters
            out.update(
                announced_chunks=len(self._announced),
                events_stored_total=c.stored,
                events_removed_total=c.removed,
                events_forgotten_total=c.forgotten,
            )
        return out

    def stats(self) -> dict[str, Any]:
        """kvtier's own counters (hits, misses, verify failures, drops, ...),
        the namespace's usage, the event counters and the tier's jobs' keys
        by outcome (``key_outcomes_total.<op>.<outcome>``)."""
        return {**self.store.stats(), **self._own_stats(), **self._outcomes.stats()}

    def metrics_text(self) -> str:
        lines = [self.store.metrics_text().rstrip("\n")]
        for key, value in self._own_stats().items():
            kind = "counter" if key.endswith("_total") else "gauge"
            lines += [f"# TYPE kvtier_{key} {kind}", f"kvtier_{key} {value}"]
        lines += self._outcomes.prometheus()
        return "\n".join(lines) + "\n"


# Short alias for configs: {"type": "KvtierTier", "module_path": "kvtier.vllm"}.
__all__ = ["KvtierTier", "TIER_OPTIONS", "build_fingerprint"]
