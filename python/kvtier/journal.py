"""Reading the evictor's removal journal and usage notes (src/evictor/journal.h).

Each evictor replica writes, inside every kvtier namespace it evicts from::

    <ns>/journal/r<replica>-<16 hex seq>.log   whole segments (temp + rename);
                                               one "<aa>/<bb>/<name>.kv <crc32>"
                                               line per deleted chunk
    <ns>/journal/usage.r<replica>              "chunks N bytes B time T <crc32>"

Everything here is untrusted input: a name that is not a segment, a file that
is not regular or is larger than the writer ever makes, a line whose CRC-32
fails or whose path is not a chunk path is skipped and counted, never acted
on. Memory is bounded: at most ``MAX_ENTRIES`` directory entries are looked
at per poll and the set of segments already read holds only names present in
the last listing.
"""

from __future__ import annotations

import os
import re
import stat
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field

JOURNAL_DIR = "journal"
# What the evictor writes at most (kMaxSegmentBytes), with room for nothing else.
MAX_SEGMENT_BYTES = 512 * 1024
# Segments kept per replica (1024) times the replicas a tree plausibly has.
MAX_ENTRIES = 16384
# A usage note not refreshed for this long belongs to a replica that stopped.
USAGE_STALE_S = 300.0
_SEGMENT = re.compile(r"r([0-9]{1,4})-([0-9a-f]{16})\.log")
_USAGE = re.compile(r"usage\.r([0-9]{1,4})")
_PATH = rb"[0-9a-f]{2}/[0-9a-f]{2}/([0-9a-f]{2,200})\.kv"
_LINE = re.compile(rb"(" + _PATH + rb") ([0-9a-f]{8})")
_USAGE_LINE = re.compile(
    rb"(chunks ([0-9]{1,20}) bytes ([0-9]{1,20}) time ([0-9]{1,20})) ([0-9a-f]{8})"
)


def chunk_key(rel_path: bytes) -> bytes | None:
    """The key a journal line names, or None (a malformed line).

    Only keys of 1..100 bytes have their hex as the file name (docs/FORMAT.md);
    vLLM's offload keys (a block hash and a 4-byte group) always do.
    """
    m = re.fullmatch(_PATH, rel_path)
    if m is None:
        return None
    stem = m.group(1)
    return bytes.fromhex(stem.decode()) if len(stem) % 2 == 0 else None


@dataclass
class JournalCounters:
    segments_read: int = 0
    records: int = 0
    bad_records: int = 0  # checksum or syntax failed: skipped
    bad_segments: int = 0  # not a regular file, too large, unreadable
    entries_over_cap: int = 0  # directory entries beyond MAX_ENTRIES, not read


@dataclass
class JournalReader:
    """Tails one namespace's journal. Not thread-safe: one caller at a time."""

    namespace_dir: str
    counters: JournalCounters = field(default_factory=JournalCounters)
    _seen: set[str] = field(default_factory=set)

    @property
    def journal_dir(self) -> str:
        return os.path.join(self.namespace_dir, JOURNAL_DIR)

    def _list(self) -> list[str]:
        names: list[str] = []
        try:
            with os.scandir(self.journal_dir) as it:
                for e in it:
                    if len(names) >= MAX_ENTRIES:
                        self.counters.entries_over_cap += 1
                        continue
                    names.append(e.name)
        except OSError:
            return []  # no journal yet (nothing evicted), or unreadable: nothing to do
        return names

    def skip_existing(self) -> None:
        """Marks every segment present now as read: a (re)started engine
        announced none of their chunks, so it must not replay them."""
        self._seen = {n for n in self._list() if _SEGMENT.fullmatch(n)}

    def poll(self) -> Iterator[tuple[bytes, bytes]]:
        """(key, rel_path) of every valid record in segments not read before."""
        names = [n for n in self._list() if _SEGMENT.fullmatch(n)]
        for name in sorted(names, key=lambda n: n.split("-", 1)[1]):
            if name in self._seen:
                continue
            data = self._read(name, MAX_SEGMENT_BYTES)
            if data is None:
                continue
            self.counters.segments_read += 1
            yield from self._records(data)
        self._seen = set(names)

    def _read(self, name: str, limit: int) -> bytes | None:
        """A regular file's bytes (no symlink followed), or None, counted."""
        flags = os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0) | os.O_NONBLOCK
        try:
            fd = os.open(os.path.join(self.journal_dir, name), flags)
        except FileNotFoundError:
            return None  # rotated away between the listing and the open
        except OSError:
            self.counters.bad_segments += 1
            return None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or st.st_size > limit:
                self.counters.bad_segments += 1
                return None
            return os.read(fd, limit + 1)[:limit]
        except OSError:
            self.counters.bad_segments += 1
            return None
        finally:
            os.close(fd)

    def _records(self, data: bytes) -> Iterator[tuple[bytes, bytes]]:
        lines = data.split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
        elif lines:
            lines.pop()  # no newline: torn (cannot happen with rename; hostile)
            self.counters.bad_records += 1
        for line in lines:
            m = _LINE.fullmatch(line)
            key = chunk_key(m.group(1)) if m else None
            if m is None or key is None or int(m.group(3), 16) != zlib.crc32(m.group(1)):
                self.counters.bad_records += 1
                continue
            self.counters.records += 1
            yield key, m.group(1)

    def usage(self, now: float | None = None) -> tuple[int, int] | None:
        """(chunks, bytes) of the namespace summed over the evictor replicas'
        notes refreshed within USAGE_STALE_S, or None when there is none."""
        now = time.time() if now is None else now
        chunks = nbytes = 0
        found = False
        for name in self._list():
            if not _USAGE.fullmatch(name):
                continue
            data = self._read(name, 256)
            m = _USAGE_LINE.fullmatch(data.rstrip(b"\n")) if data else None
            if m is None or int(m.group(5), 16) != zlib.crc32(m.group(1)):
                self.counters.bad_records += 1
                continue
            if now - int(m.group(4)) / 1e9 > USAGE_STALE_S:
                continue
            chunks += int(m.group(2))
            nbytes += int(m.group(3))
            found = True
        return (chunks, nbytes) if found else None
