"""kvtier: a crash-safe, checksummed KV-cache chunk store on a shared filesystem.

The native core does the I/O; this package adapts Python buffers (bytes,
bytearray, memoryview, numpy arrays, torch CPU tensors) and offers the vLLM
tier in :mod:`kvtier.vllm`.
"""

from kvtier._store import DEFAULT_IO_TIMEOUT_S, JobResult, KeyOutcome, Store, fingerprint_json

__all__ = ["DEFAULT_IO_TIMEOUT_S", "JobResult", "KeyOutcome", "Store", "fingerprint_json"]
__version__ = "0.1.0"
