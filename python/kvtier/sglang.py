"""kvtier as SGLang's HiCache storage backend (its "L3" tier).

Enable with configuration only::

    --enable-hierarchical-cache --hicache-mem-layout page_first \\
    --hicache-storage-backend dynamic \\
    --hicache-storage-backend-extra-config '{"backend_name":"kvtier",
      "module_path":"kvtier.sglang","class_name":"KvtierHiCacheStorage",
      "interface_v1":1,"root_dir":"/mnt/lustre/kv-cache"}'

Pages move straight between SGLang's host memory pool and chunk files: the
pool's own zero-copy page metadata gives each page's contiguous segments
(K and V for page_first, K and V per layer for layer_first), and each page is
ONE chunk whose payload is those segments in order: the native store gathers
them into the chunk file with one vectored write and scatters a load back
into them, with the GIL released. (One file per page, as SGLang's own file
backend has: on a network filesystem every file costs round trips.) Chunks live in kvtier
namespaces (``ROOT/<model>-<digest12>/``), so the evictor and the CLI treat
them like any other. Written against SGLang 0.5.23.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import torch
from sglang.srt.mem_cache.hicache_storage import (
    HiCacheStorage,
    HiCacheStorageConfig,
    HiCacheStorageExtraInfo,
    PoolHitPolicy,
    PoolTransfer,
    PoolTransferResult,
)

import kvtier
from kvtier._store import ENGINE_STORE_OPTIONS, MAX_PAYLOAD_PIECES
from kvtier.outcome_log import OutcomeLog

logger = logging.getLogger(__name__)

# Backend options inside --hicache-storage-backend-extra-config, and their
# defaults. Anything else (beside SGLang's own keys below) is an error.
# direct_io stays "auto" (on FUSE: O_DIRECT loads, which skip the node's page
# cache). Buffered loads read pages still in that cache 1.5-2x faster, but a
# cold 20-prefix fetch on MooseFS at 0.5 ms per direction ran 0.6x of auto's
# on the 2-core VM and 0.97x on the 16-core GPU host (bench/RESULTS.md,
# "Buffered or O_DIRECT loads for SGLang"); pages SGLang re-reads soon are
# in its host pool already, and a cold fetch is what its storage tier is for.
BACKEND_OPTIONS: dict[str, Any] = dict(ENGINE_STORE_OPTIONS)
# Keys SGLang itself reads from the same dict (dynamic loading, the zero-copy
# switch, heterogeneous TP) or that its other backends document.
_SGLANG_KEYS = {"backend_name", "module_path", "class_name", "interface_v1", "tp_lcm_size"}


def parse_options(extra_config: dict[str, Any] | None) -> dict[str, Any]:
    """Defaults overlaid with the operator's options; unknown names raise."""
    extra = dict(extra_config or {})
    unknown = sorted(k for k in extra if k not in BACKEND_OPTIONS and k not in _SGLANG_KEYS)
    if unknown:
        raise ValueError(
            f"kvtier.sglang: unknown option(s) {', '.join(unknown)}; "
            f"known: {', '.join(sorted(BACKEND_OPTIONS))}"
        )
    opts = {k: extra.get(k, v) for k, v in BACKEND_OPTIONS.items()}
    if not opts["root_dir"]:
        raise ValueError("kvtier.sglang: 'root_dir' is required in the extra config")
    return opts


def _sglang_minor() -> str:
    from importlib.metadata import version

    return ".".join(version("sglang").split(".")[:2])


def storage_fingerprint(
    cfg: HiCacheStorageConfig, pool: Any, opts: dict[str, Any], segments: int
) -> dict[str, Any]:
    """Everything that must match for two engines to share a page's bytes.

    MLA pages are the same on every TP rank (SGLang lets one rank write
    them), so their namespace leaves the TP rank out; MHA pages hold this
    rank's heads only.
    """
    fp: dict[str, Any] = {
        "engine": "sglang",
        "engine_version": _sglang_minor(),
        "model": cfg.model_name or "",
        "model_revision": opts["model_revision"],
        "kv_dtype": str(pool.dtype).removeprefix("torch."),
        "page_size": int(pool.page_size),
        "layout": str(pool.layout),
        "pool": type(pool).__name__,
        "page_bytes": int(pool.get_size_per_token()) * int(pool.page_size),
        "segments_per_page": segments,
        # One chunk per page, its segments gathered: a namespace of chunks per
        # segment (what earlier versions wrote) is never read as this kind.
        "chunk_per": "page",
        "pp": [cfg.pp_rank, cfg.pp_size],
        "attn_cp": [cfg.attn_cp_rank, cfg.attn_cp_size],
        "dcp": [cfg.dcp_rank, cfg.dcp_size],
        "page_hash": "sglang-sha256-chain",
        "cache_salt": opts["cache_salt"],
    }
    if cfg.is_mla_model:
        fp["tp"] = ["replicated", cfg.tp_size]
    else:
        fp["tp"] = [cfg.tp_rank, cfg.tp_size]
    return fp


class _PoolPages:
    """Where one host pool's pages lie: per page, its contiguous segments in
    the order the pool's flat data page concatenates them."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool
        self.page_size = int(getattr(pool, "page_size", 1) or 1)
        buf = pool.kv_buffer
        self.owner = buf
        self.lo = buf.data_ptr()
        self.hi = self.lo + buf.numel() * buf.element_size()
        probe = torch.arange(self.page_size, dtype=torch.int64)
        ptrs, _ = pool.get_page_buffer_meta(probe)
        self.segments = len(ptrs)
        if not 0 < self.segments <= MAX_PAYLOAD_PIECES:
            # A page is one chunk gathered from its segments.
            raise ValueError(
                f"kvtier.sglang: a host pool page of {self.segments} segments is not supported "
                f"(at most {MAX_PAYLOAD_PIECES}: such layer_first pools need page_first)"
            )
        # Segment i of the page (meta order) starts at flat_pos[i] segments
        # into the flat data page of the non-zero-copy path. SGLang's meta
        # interleaves K and V per layer in layer_first; its flat page holds
        # all K, then all V.
        n = self.segments
        interleaved = getattr(pool, "layout", "") == "layer_first" and hasattr(pool, "v_buffer")
        self.flat_pos = [
            (i // 2 if i % 2 == 0 else n // 2 + i // 2) if interleaved else i for i in range(n)
        ]

    def regions(
        self, host_indices: torch.Tensor, pages: int
    ) -> list[list[tuple[Any, int, int]]] | None:
        """Per page of ``pages``, its segments as (owner, address, nbytes), in
        meta order (one chunk's pieces); None if SGLang handed indices that do
        not fit its own pool."""
        if host_indices is None or host_indices.numel() != pages * self.page_size:
            return None
        ptrs, sizes = self.pool.get_page_buffer_meta(host_indices)
        if len(ptrs) != pages * self.segments:
            return None
        flat = []
        for p, s in zip(ptrs, sizes):
            if p < self.lo or p + s > self.hi:
                return None
            flat.append((self.owner, int(p), int(s)))
        n = self.segments
        return [flat[i * n : (i + 1) * n] for i in range(pages)]


class KvtierHiCacheStorage(HiCacheStorage):
    """A HiCacheStorage whose pages are kvtier chunks (checksummed, crash-safe).

    Every failure (missing, corrupt, foreign or unreadable chunk, full disk)
    is a per-key False or a shorter hit count, never an exception in SGLang's
    I/O threads.
    """

    def __init__(self, storage_config: HiCacheStorageConfig, kwargs: Any = None) -> None:
        self.config = storage_config
        self.opts = parse_options(storage_config.extra_config)
        self.store: kvtier.Store | None = None
        self.pools: dict[str, _PoolPages] = {}
        self.registered_pools: dict[str, Any] = {}
        # With MLA, SGLang lets only the writer rank store replicated pages.
        self.writer = storage_config.is_storage_writer
        self._outcomes = OutcomeLog(logger)

    # Pool registration: the namespace needs the pool's geometry. ----------------
    def register_mem_pool_host(self, mem_pool_host: Any) -> None:
        super().register_mem_pool_host(mem_pool_host)
        kv = _PoolPages(mem_pool_host)
        self.pools["kv"] = kv
        fp = storage_fingerprint(self.config, mem_pool_host, self.opts, kv.segments)
        o = self.opts
        self.store = kvtier.Store(
            o["root_dir"],
            fp,
            read_threads=o["read_threads"],
            write_threads=o["write_threads"],
            io_backend=o["io_backend"],
            direct_io=o["direct_io"],
            verify=o["verify"],
            durable=o["durable"],
            touch_interval_s=o["touch_interval_s"],
            max_queued_write_bytes=o["max_queued_write_bytes"],
            lookup_cache_s=o["lookup_cache_s"],
            io_timeout_s=float(o["io_timeout_s"]),
            file_mode=o["file_mode"],
            dir_mode=o["dir_mode"],
            group=o["group"],
            auth_key_file=o["auth_key_file"],
            encrypt=bool(o["encrypt"]),
            segment_bytes=int(o["segment_bytes"]),
        )
        logger.info("kvtier HiCache storage at %s", self.store.namespace_dir)

    def register_mem_host_pool_v2(self, host_pool: Any, host_pool_name: Any) -> None:
        self.registered_pools[str(host_pool_name)] = host_pool
        if hasattr(host_pool, "get_page_buffer_meta") and hasattr(host_pool, "kv_buffer"):
            self.pools[str(host_pool_name)] = _PoolPages(host_pool)

    # Keys. -----------------------------------------------------------------------
    @staticmethod
    def _keys(page_keys: Sequence[str], pool: str) -> list[bytes]:
        # One chunk per page. A NUL never occurs in SGLang's hex page hashes,
        # so key + pool is unambiguous.
        return [str(k).encode() + b"\0" + pool.encode() for k in page_keys]

    def _pages(self, pool: str) -> _PoolPages | None:
        return self.pools.get(pool)

    # Existence. --------------------------------------------------------------------
    def _present(self, page_keys: Sequence[str], pool: str) -> list[bool]:
        pp = self._pages(pool)
        if self.store is None or pp is None or not page_keys:
            return [False] * len(page_keys)
        return self.store.contains(self._keys(page_keys, pool))

    def batch_exists(
        self, keys: list[str], extra_info: HiCacheStorageExtraInfo | None = None
    ) -> int:
        """Pages of the longest prefix present. SGLang takes the minimum of
        this count over TP ranks, so each rank answers for its own shard."""
        present = self._present(keys, "kv")
        return present.index(False) if False in present else len(present)

    def exists(self, key: str) -> bool:
        return self._present([key], "kv")[0]

    # Zero-copy page transfers (interface_v1 and v2). ------------------------------
    def _transfer(self, pool: str, keys: Sequence[str], host_indices: Any, put: bool) -> list[bool]:
        pp = self._pages(pool)
        if self.store is None or pp is None or not keys:
            return [False] * len(keys)
        regions = pp.regions(host_indices, len(keys))
        if regions is None:
            logger.error("kvtier: host indices do not match %d pages of pool %s", len(keys), pool)
            return [False] * len(keys)
        ok = self._run(self._keys(keys, pool), regions, put)
        return [False] * len(keys) if ok is None else ok

    def batch_get_v1(
        self,
        keys: list[str],
        host_indices: torch.Tensor,
        extra_info: HiCacheStorageExtraInfo | None = None,
    ) -> list[bool]:
        return self._transfer("kv", keys, host_indices, put=False)

    def batch_set_v1(
        self,
        keys: list[str],
        host_indices: torch.Tensor,
        extra_info: HiCacheStorageExtraInfo | None = None,
    ) -> list[bool]:
        if not self.writer:
            return [True] * len(keys)  # the writer rank stores replicated MLA pages
        return self._transfer("kv", keys, host_indices, put=True)

    def batch_get_v2(
        self, transfers: list[PoolTransfer], extra_info: HiCacheStorageExtraInfo | None = None
    ) -> dict[str, list[bool]]:
        return {
            str(t.name): self._transfer(str(t.name), t.keys or [], t.host_indices, put=False)
            for t in transfers
        }

    def batch_set_v2(
        self, transfers: list[PoolTransfer], extra_info: HiCacheStorageExtraInfo | None = None
    ) -> dict[str, list[bool]]:
        return {
            str(t.name): self._transfer(str(t.name), t.keys or [], t.host_indices, put=True)
            for t in transfers
        }

    def batch_exists_v2(
        self,
        keys: list[str],
        pool_transfers: list[PoolTransfer] | None = None,
        extra_info: HiCacheStorageExtraInfo | None = None,
    ) -> PoolTransferResult:
        """Longest usable prefix over the KV pool and every extra pool's policy:
        ALL_PAGES needs each page of the prefix, TRAILING_PAGES only the last
        ``len(transfer.keys)`` pages before the prefix's end. A policy kvtier
        does not know yields no hit for that pool (a miss, not an error)."""
        kv = self._present(keys, "kv")
        kv_pages = kv.index(False) if False in kv else len(kv)
        hits: dict[str, int] = {"kv": kv_pages} if kv_pages else {}
        restorable = set(range(1, kv_pages + 1))
        for t in pool_transfers or []:
            if not restorable:
                break
            name = str(t.name)
            have = self._present(keys[:kv_pages], name)
            if t.hit_policy == PoolHitPolicy.ALL_PAGES:
                end = have.index(False) if False in have else kv_pages
                ok = set(range(1, end + 1))
            elif t.hit_policy == PoolHitPolicy.TRAILING_PAGES:
                window = max(1, len(t.keys or []))
                ok = {n for n in range(1, kv_pages + 1) if all(have[max(0, n - window) : n])}
            else:
                ok = set()
            if ok:
                hits[name] = max(ok)
            restorable &= ok
        final = max(restorable, default=0)
        return PoolTransferResult(final, hits, sorted(restorable))

    # The generic (non-zero-copy) interface: one flat page tensor per key. ------
    def _flat_io(self, key: str, flat: torch.Tensor, put: bool) -> bool:
        pp = self._pages("kv")
        if self.store is None or pp is None or flat is None:
            return False
        flat = flat.reshape(-1).view(torch.uint8)
        if not flat.is_contiguous() or flat.numel() % pp.segments:
            return False
        seg = flat.numel() // pp.segments
        # The same chunk as the zero-copy path's: segments in meta order.
        parts = [flat[j * seg : (j + 1) * seg] for j in pp.flat_pos]
        ok = self._run(self._keys([key], "kv"), [parts], put)
        return bool(ok) and all(ok)

    def _run(self, ckeys: list[bytes], buffers: list[Any], put: bool) -> list[bool] | None:
        """One native job over chunks (one per page, ``buffers[i]`` its
        segments): per chunk stored/loaded, or None when
        the job was refused or lost. Each chunk's outcome is counted and
        logged (misses quietly, other failures as warnings)."""
        store = self.store
        if store is None:
            return None
        op = "put" if put else "get"
        job = (store.submit_put if put else store.submit_get)(ckeys, buffers)
        if not job:
            self._outcomes.record(op, [kvtier.KeyOutcome.REJECTED] * len(ckeys))
            return None
        r = store.wait_result(job)
        if r is None:
            return None
        self._outcomes.record(op, r.outcomes)
        return r.ok

    def get(self, key: str, target_location: Any = None, target_sizes: Any = None) -> Any:
        return target_location if self._flat_io(key, target_location, put=False) else None

    def batch_get(
        self, keys: list[str], target_locations: Any = None, target_sizes: Any = None
    ) -> list[Any]:
        return [self.get(k, t) for k, t in zip(keys, target_locations or [None] * len(keys))]

    def set(
        self, key: str, value: Any = None, target_location: Any = None, target_sizes: Any = None
    ) -> bool:
        if not self.writer:
            return True
        return self._flat_io(key, value.contiguous() if value is not None else None, put=True)

    def batch_set(
        self,
        keys: list[str],
        values: Any = None,
        target_locations: Any = None,
        target_sizes: Any = None,
    ) -> bool:
        return all(self.set(k, v) for k, v in zip(keys, values or []))

    # Operations. -----------------------------------------------------------------------
    def clear(self) -> bool:
        """Deleting chunks is the evictor's job (it is safe across writers);
        SGLang's flush only forgets this process's verdict cache."""
        return False

    def get_stats(self) -> None:
        # SGLang expects its own StorageMetrics here; kvtier's counters are in
        # stats() and metrics_text().
        return None

    def stats(self) -> dict[str, Any]:
        """The store's counters and this backend's chunks by outcome
        (``key_outcomes_total.<op>.<outcome>``)."""
        if self.store is None:
            return {}
        return {**self.store.stats(), **self._outcomes.stats()}

    def metrics_text(self) -> str:
        if self.store is None:
            return ""
        lines = [self.store.metrics_text().rstrip("\n"), *self._outcomes.prometheus()]
        return "\n".join(lines) + "\n"

    def close(self) -> None:
        if self.store is not None:
            self.store.close()
