"""Python face of the native store: argument checking and buffer adaptation."""

from __future__ import annotations

import enum
import grp
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kvtier import _kvtier
from kvtier._kvtier import _Store

# The chunk format's limits: put/submit_put refuse longer keys and larger
# buffers with ValueError (nothing is queued).
MAX_KEY_BYTES: int = _kvtier.MAX_KEY_BYTES
MAX_PAYLOAD_BYTES: int = _kvtier.MAX_PAYLOAD_BYTES
MAX_PAYLOAD_PIECES: int = _kvtier.MAX_PAYLOAD_PIECES

# StoreOptions' defaults (include/kvtier/store.h), exported by the native
# module in Store's units: the one place they are spelled. Store's signature
# and the engine options below take them from here.
NATIVE_DEFAULTS: Mapping[str, Any] = dict(_kvtier.STORE_DEFAULTS)
DEFAULT_MAX_QUEUED_WRITE_BYTES: int = NATIVE_DEFAULTS["max_queued_write_bytes"]
# Per-job I/O deadline (0 or negative: none).
DEFAULT_IO_TIMEOUT_S: float = NATIVE_DEFAULTS["io_timeout_s"]
# The one default engines change: the write queue holds references to the
# engine's host memory, not copies; vLLM stores one job's blocks at a time,
# SGLang at most 128 pages a call, so 4 GiB covers 128 pages of 32 MiB where
# the library's 1 GiB would drop the tail of a long prefix.
ENGINE_MAX_QUEUED_WRITE_BYTES = 4 << 30

# The store options an engine integration (kvtier.vllm, kvtier.sglang) takes
# from its configuration, with their defaults; each adds its own.
ENGINE_STORE_OPTIONS: dict[str, Any] = {
    "root_dir": None,  # required: the shared cache directory
    "read_threads": NATIVE_DEFAULTS["read_threads"],
    "write_threads": NATIVE_DEFAULTS["write_threads"],
    "io_backend": "auto",  # "auto" | "io_uring" | "threadpool"
    "direct_io": "auto",  # "auto" | true | false
    "verify": NATIVE_DEFAULTS["verify"],  # checksum every load (a mismatch is a miss)
    "durable": NATIVE_DEFAULTS["durable"],  # fsync each chunk before reporting it stored
    # atime refresh rate limit, for the evictor's LRU
    "touch_interval_s": NATIVE_DEFAULTS["touch_interval_s"],
    # Over it, stores are dropped and counted.
    "max_queued_write_bytes": ENGINE_MAX_QUEUED_WRITE_BYTES,
    # how long an existence verdict is reused natively
    "lookup_cache_s": NATIVE_DEFAULTS["lookup_cache_s"],
    # Per-job I/O deadline (0: none): past it a job's unfinished keys fail
    # (the engine recomputes them, or the store is not made) instead of
    # holding the engine's thread on a stalled mount.
    "io_timeout_s": DEFAULT_IO_TIMEOUT_S,
    # Mode and group of what the store creates (octal strings, or ints):
    # "2775" lets an evictor of the same group but another user delete
    # chunks. group: a gid or name, None for the process's (or inherited).
    "file_mode": f"{NATIVE_DEFAULTS['file_mode']:04o}",
    "dir_mode": f"{NATIVE_DEFAULTS['dir_mode']:04o}",
    "group": None,
    # Authenticated chunks (docs/SECURITY.md): a key file, e.g. a Kubernetes
    # Secret mounted with defaultMode 0400; its key id joins the fingerprint.
    "auth_key_file": "",
    "encrypt": False,  # with auth_key_file: payloads encrypted too (AES-256-GCM)
    # Transfer unit of loads and buffered stores, in bytes (rounded down to a
    # multiple of 4 KiB); 0: by filesystem (512 KiB, except loads on FUSE
    # mounts: 2 MiB).
    "segment_bytes": NATIVE_DEFAULTS["segment_bytes"],
    "cache_salt": "",  # tenant isolation: different salts never share chunks
    "model_revision": "",  # e.g. the HF commit; part of the fingerprint
}


def fingerprint_json(fingerprint: Mapping[str, Any]) -> str:
    """Canonical JSON of a fingerprint mapping (sorted keys, no whitespace)."""
    if not isinstance(fingerprint, Mapping):
        raise TypeError("fingerprint must be a mapping (dict)")
    for key in fingerprint:
        if not isinstance(key, str):
            raise TypeError("fingerprint keys must be strings")
    return json.dumps(fingerprint, sort_keys=True, separators=(",", ":"))


def parse_mode(value: int | str, name: str) -> int:
    """A permission mode as an int, or a string of octal digits ("2775", "0o2775")."""
    if isinstance(value, str):
        digits = value.strip().removeprefix("0o")
        if not digits or any(c not in "01234567" for c in digits):
            raise ValueError(f"{name} must be octal digits, got {value!r}")
        value = int(digits, 8)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 0o7777:
        raise ValueError(f"{name} must be a mode in [0, 0o7777], got {value!r}")
    return value


def parse_group(value: int | str | None) -> int:
    """A group id from an int, a numeric string or a group name; -1 for None."""
    if value is None:
        return -1
    if isinstance(value, str):
        if value.strip().isdigit():
            return int(value)
        try:
            return grp.getgrnam(value).gr_gid
        except KeyError:
            raise ValueError(f"group {value!r} does not exist") from None
    if not isinstance(value, int) or isinstance(value, bool) or value < -1:
        raise ValueError(f"group must be a gid, a name or None, got {value!r}")
    return value


def _adapt(buf: Any) -> Any:
    """Return something the native layer accepts: a buffer-protocol object,
    or (owner, address, nbytes) for a contiguous CPU torch tensor."""
    if type(buf).__module__.startswith("torch") and hasattr(buf, "data_ptr"):
        if buf.device.type != "cpu":
            raise ValueError("torch tensors must live on the CPU")
        if not buf.is_contiguous():
            raise ValueError("torch tensors must be contiguous")
        return (buf, buf.data_ptr(), buf.numel() * buf.element_size())
    return buf


def _adapt_pieces(buf: Any) -> Any:
    """One key's buffers: a buffer, or a list or tuple of buffers (passed on
    as a list, each adapted) whose concatenation is the chunk's payload."""
    if isinstance(buf, (list, tuple)):
        return [_adapt(b) for b in buf]
    return _adapt(buf)


def _timeout(timeout_s: float | None) -> float:
    """None: no limit (-1 for the native layer); negative is misuse."""
    if timeout_s is None:
        return -1.0
    t = float(timeout_s)
    if t < 0:
        raise ValueError("timeout_s must be >= 0 or None")
    return t


class KeyOutcome(enum.IntEnum):
    """What became of one key of a job (kvtier::KeyOutcome). Only OK is a
    success; every other value is handled like a miss, and says why. Compare
    with ``KeyOutcome.OK``: OK is 0, so do not test a value for truth."""

    OK = 0  # put: stored or already there; get: loaded and verified; contains: present
    MISS = 1  # get, contains: no chunk under the key (or the namespace is unusable)
    CORRUPT = 2  # get: the file failed a check (stats' verify_failures_total.* say which)
    AUTH_FAILED = 3  # get, auth_key_file set: no key of the store verifies the chunk's tag
    IO_ERROR = 4  # the filesystem failed the operation (EIO, ENOSPC, EACCES, ...)
    TIMED_OUT = 5  # the job's io_timeout_s passed before this key finished
    DROPPED = 6  # put: not queued: over max_queued_write_bytes, or the namespace is unusable
    INVALID = 7  # put: key or payload over the chunk format's limits
    REJECTED = 8  # the whole job was refused (submit_* returned 0: too many pending jobs)

    @property
    def label(self) -> str:
        """The native name ("io_error"), as logs and metrics spell it."""
        return self.name.lower()


# The native layer numbers outcomes in its own order: refuse to run on a
# mismatch rather than report one failure as another.
if tuple(o.label for o in KeyOutcome) != tuple(_kvtier.KEY_OUTCOMES):
    raise ImportError(f"kvtier.KeyOutcome does not match the native {_kvtier.KEY_OUTCOMES}")


@dataclass(frozen=True)
class JobResult:
    job_id: int
    kind: str  # "put", "get" or "contains"
    outcomes: list[KeyOutcome]  # one per key, in submission order

    @classmethod
    def _from_native(cls, native: tuple[int, str, list[int]]) -> JobResult:
        job_id, kind, outcomes = native
        return cls(job_id, kind, [KeyOutcome(o) for o in outcomes])

    @property
    def ok(self) -> list[bool]:
        """Per key: stored / loaded and verified / present."""
        return [o == KeyOutcome.OK for o in self.outcomes]

    @property
    def all_ok(self) -> bool:
        return all(o == KeyOutcome.OK for o in self.outcomes)


class Store:
    """A namespace of KV chunks under ``root`` for one compatibility fingerprint.

    I/O failures never raise: ``put``/``get`` return False, a finished job's
    :class:`JobResult` gives each key's :class:`KeyOutcome`, and the counters
    in :meth:`stats` add them up. Misuse (wrong types, wrong sizes, a closed store)
    raises ``TypeError``/``ValueError``.
    """

    def __init__(
        self,
        root: str,
        fingerprint: Mapping[str, Any],
        *,
        read_threads: int = NATIVE_DEFAULTS["read_threads"],
        write_threads: int = NATIVE_DEFAULTS["write_threads"],
        io_backend: str = "auto",
        direct_io: bool | str = "auto",
        verify: bool = NATIVE_DEFAULTS["verify"],
        durable: bool = NATIVE_DEFAULTS["durable"],
        touch_interval_s: float = NATIVE_DEFAULTS["touch_interval_s"],
        max_queued_write_bytes: int = DEFAULT_MAX_QUEUED_WRITE_BYTES,
        max_pending_jobs: int = NATIVE_DEFAULTS["max_pending_jobs"],
        lookup_cache_s: float = NATIVE_DEFAULTS["lookup_cache_s"],
        chunk_bytes: int = 0,
        io_timeout_s: float = DEFAULT_IO_TIMEOUT_S,
        file_mode: int | str = NATIVE_DEFAULTS["file_mode"],
        dir_mode: int | str = NATIVE_DEFAULTS["dir_mode"],
        group: int | str | None = None,
        auth_key_file: str | None = "",
        encrypt: bool = False,
        segment_bytes: int = NATIVE_DEFAULTS["segment_bytes"],
    ) -> None:
        for name, value in (
            ("read_threads", read_threads),
            ("write_threads", write_threads),
            ("max_queued_write_bytes", max_queued_write_bytes),
            ("max_pending_jobs", max_pending_jobs),
            ("chunk_bytes", chunk_bytes),
            ("segment_bytes", segment_bytes),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{name} must be a non-negative int, got {value!r}")
        self._native = _Store(
            str(root),
            fingerprint_json(fingerprint),
            read_threads,
            write_threads,
            io_backend,
            direct_io,
            bool(verify),
            bool(durable),
            float(touch_interval_s),
            max_queued_write_bytes,
            max_pending_jobs,
            float(lookup_cache_s),
            chunk_bytes,
            float(io_timeout_s),
            file_mode=parse_mode(file_mode, "file_mode"),
            dir_mode=parse_mode(dir_mode, "dir_mode"),
            group=parse_group(group),
            auth_key_file=str(auth_key_file or ""),
            encrypt=bool(encrypt),
            segment_bytes=segment_bytes,
        )

    # Synchronous conveniences -------------------------------------------------
    def put(self, key: bytes, data: Any) -> bool:
        """Store ``data`` under ``key`` unless present; True once it is there."""
        return self._native.put(key, _adapt(data))

    def get(self, key: bytes, out: Any) -> bool:
        """Load the chunk into ``out`` (a writable buffer of the chunk's size).

        True only when every byte was verified; on False ``out`` holds garbage.
        """
        return self._native.get(key, _adapt(out))

    def contains(self, keys: Iterable[bytes]) -> list[bool]:
        return self._native.contains(list(keys))

    # Asynchronous interface ---------------------------------------------------
    def submit_put(self, keys: Sequence[bytes], buffers: Sequence[Any]) -> int:
        """Queue stores; returns a job id (0 if refused: too many pending jobs,
        which a caller may record as KeyOutcome.REJECTED for each key).

        ``buffers[i]`` is key i's payload: one buffer (buffer protocol or a
        contiguous CPU torch tensor), or a list or tuple of such buffers
        whose concatenation is the payload, gathered into one chunk (at most
        MAX_PAYLOAD_PIECES of them; the Store's chunk_bytes, if set, applies
        to their total). An empty list, a list inside a list or a piece that
        is not a buffer raises ValueError naming ``buffers[i][j]``. The
        buffers must stay untouched until the job is collected.
        """
        return self._native.submit_put(list(keys), [_adapt_pieces(b) for b in buffers])

    def submit_get(self, keys: Sequence[bytes], buffers: Sequence[Any]) -> int:
        """Queue loads; returns a job id (0 if refused, as for submit_put).

        ``buffers[i]`` receives key i's payload: one writable buffer of the
        chunk's size, or a list or tuple of writable buffers the payload is
        scattered into in order (their sizes must add up to the chunk's
        payload length, else the key is a miss). Invalid lists raise
        ValueError as in submit_put. The buffers hold verified bytes only
        for keys whose outcome is ok.
        """
        return self._native.submit_get(list(keys), [_adapt_pieces(b) for b in buffers])

    def submit_contains(self, keys: Sequence[bytes]) -> int:
        return self._native.submit_contains(list(keys))

    def poll(self, max_results: int = 1 << 20, timeout_s: float | None = 0.0) -> list[JobResult]:
        """Finished jobs since the last poll. With the default ``timeout_s=0``
        it never blocks; otherwise it waits up to ``timeout_s`` (None: no
        limit) for at least one job to finish, returning at once when none
        is outstanding."""
        return [
            JobResult._from_native(r) for r in self._native.poll(max_results, _timeout(timeout_s))
        ]

    def wait(self, job_id: int, timeout_s: float | None = None) -> list[bool] | None:
        """Block until ``job_id`` finishes (``timeout_s`` None: no limit);
        per-key results, or None on timeout or an unknown (or already
        collected) id."""
        r = self.wait_result(job_id, timeout_s)
        return r.ok if r is not None else None

    def wait_result(self, job_id: int, timeout_s: float | None = None) -> JobResult | None:
        """:meth:`wait` with each key's :class:`KeyOutcome` (why it failed)."""
        r = self._native.wait(job_id, _timeout(timeout_s))
        return JobResult._from_native(r) if r is not None else None

    # Introspection ----------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        return self._native.stats()

    def metrics_text(self) -> str:
        return self._native.metrics_text()

    @property
    def namespace_dir(self) -> str:
        return self._native.namespace_dir

    @property
    def io_backend(self) -> str:
        return self._native.io_backend

    @property
    def load_direct_io(self) -> bool:
        return self._native.load_direct_io

    @property
    def store_direct_io(self) -> bool:
        return self._native.store_direct_io

    @property
    def closed(self) -> bool:
        return self._native.closed

    def close(self) -> None:
        self._native.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
