"""Which chunks an engine announced, and which of those the evictor removed.

An engine announces a chunk (a stored event) once it published it. The
evictor's removal journal (kvtier.journal) says which chunks any replica
deleted; a background thread tails it and turns into removal events only the
chunks this engine announced and that are still gone when it looks (a chunk
stored again since keeps its announcement). Events are handed out in the
order they happened.

Bounds: the announced set is an LRU of at most ``max_announced`` keys (about
170 bytes each: 200,000 keys take ~34 MB). The oldest key beyond it is
forgotten and reported as a metadata-only removal (vLLM releases what it
kept for it without telling subscribers), so it will never get a removal
event: a router may then keep it until it fails there once. Pending events
hold only keys that were in the set, so they are bounded by it too.

Thread-safety: every method may be called from any thread.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from kvtier.journal import JournalReader

STORED, REMOVED, FORGOTTEN = "stored", "removed", "forgotten"


@dataclass
class EventCounters:
    stored: int = 0
    removed: int = 0
    forgotten: int = 0  # left the announced set by its cap
    restored: int = 0  # in the journal, but present again: not removed


class AnnouncedChunks:
    """The announced-set LRU and the queue of events not yet taken."""

    def __init__(self, max_announced: int) -> None:
        if max_announced < 1:
            raise ValueError("max_announced must be >= 1")
        self._cap = max_announced
        self._lock = threading.Lock()
        self._announced: OrderedDict[bytes, None] = OrderedDict()
        self._events: list[tuple[str, bytes]] = []
        self.counters = EventCounters()

    def announce(self, keys: list[bytes]) -> None:
        with self._lock:
            for k in keys:
                if k in self._announced:
                    self._announced.move_to_end(k)  # announced already: no repeat
                    continue
                self._announced[k] = None
                self._events.append((STORED, k))
                self.counters.stored += 1
                if len(self._announced) > self._cap:
                    old, _ = self._announced.popitem(last=False)
                    self._events.append((FORGOTTEN, old))
                    self.counters.forgotten += 1

    def remove_if_announced(self, key: bytes, still_gone: bool) -> None:
        with self._lock:
            if key not in self._announced:
                return
            if not still_gone:
                self.counters.restored += 1
                return
            del self._announced[key]
            self._events.append((REMOVED, key))
            self.counters.removed += 1

    def is_announced(self, key: bytes) -> bool:
        with self._lock:
            return key in self._announced

    def has_events(self) -> bool:
        with self._lock:
            return bool(self._events)

    def take(self) -> list[tuple[str, list[bytes]]]:
        """Pending events as runs of one kind, in order."""
        with self._lock:
            events, self._events = self._events, []
        runs: list[tuple[str, list[bytes]]] = []
        for kind, key in events:
            if runs and runs[-1][0] == kind:
                runs[-1][1].append(key)
            else:
                runs.append((kind, [key]))
        return runs

    def __len__(self) -> int:
        with self._lock:
            return len(self._announced)


class JournalTail:
    """A daemon thread that reads a namespace's journal every ``poll_s``
    (feeding ``chunks`` when given) and its usage notes every
    ``usage_poll_s``. ``stop`` waits for the thread at most ``join_s``: on
    a mount that stopped answering, the thread is left behind (it holds
    nothing of the engine's) rather than holding the engine's shutdown."""

    def __init__(
        self,
        namespace_dir: str,
        chunks: AnnouncedChunks | None,
        poll_s: float,
        usage_poll_s: float = 30.0,
    ) -> None:
        self.reader = JournalReader(namespace_dir)
        self.reader.skip_existing()  # a new engine announced none of it
        self._chunks = chunks
        self._poll_s = max(0.05, float(poll_s))
        self._usage_poll_s = max(self._poll_s, float(usage_poll_s))
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._usage: tuple[int, int] | None = None
        self._thread = threading.Thread(target=self._run, name="kvtier-journal", daemon=True)
        self._thread.start()

    @property
    def usage(self) -> tuple[int, int] | None:
        """(chunks, bytes) under the namespace by the evictors' last notes."""
        with self._lock:
            return self._usage

    def _run(self) -> None:
        next_usage = 0.0
        while not self._stop.is_set():
            try:
                self.poll_once()
                now = time.monotonic()
                if now >= next_usage:
                    usage = self.reader.usage()
                    with self._lock:
                        self._usage = usage
                    next_usage = now + self._usage_poll_s
            except Exception:  # noqa: BLE001 - a bad journal must never stop the engine
                self.reader.counters.bad_segments += 1
            self._stop.wait(self._poll_s)

    def poll_once(self) -> None:
        if self._chunks is None:
            return
        ns = self.reader.namespace_dir
        for key, rel in self.reader.poll():
            if not self._chunks.is_announced(key):
                continue
            try:
                os.lstat(os.path.join(ns, rel.decode()))
                gone = False
            except FileNotFoundError:
                gone = True
            except OSError:
                continue  # cannot tell: keep the announcement
            self._chunks.remove_if_announced(key, gone)

    def stop(self, join_s: float = 1.0) -> None:
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(join_s)
