"""Per-key outcomes of an engine integration's jobs: counted, and logged by
kind. A miss is the normal case of a cache (the engine recomputes), so it is
logged at DEBUG; every other failure points at the volume, a tenant or the
load, and is logged at WARNING, at most once per interval for each
(op, outcome) with the number seen since, so a failing mount cannot flood
the engine's log. Safe to call from several threads (SGLang's prefetch and
backup threads share one backend)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

from kvtier._store import KeyOutcome

_QUIET = {KeyOutcome.OK, KeyOutcome.MISS}


class OutcomeLog:
    def __init__(
        self,
        logger: logging.Logger,
        interval_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._logger = logger
        self._interval_s = interval_s
        self._clock = clock
        self._mu = threading.Lock()
        self._counts: dict[tuple[str, KeyOutcome], int] = {}
        # (op, outcome) -> (when last logged, count not yet logged)
        self._unlogged: dict[tuple[str, KeyOutcome], tuple[float, int]] = {}

    def record(self, op: str, outcomes: Iterable[KeyOutcome]) -> None:
        """Counts one job's keys; ``op`` is "put", "get" or "contains"."""
        seen: dict[KeyOutcome, int] = {}
        for o in outcomes:
            seen[o] = seen.get(o, 0) + 1
        for o, n in seen.items():
            with self._mu:
                self._counts[(op, o)] = self._counts.get((op, o), 0) + n
                due = self._due(op, o, n) if o not in _QUIET else 0
            if o == KeyOutcome.MISS:
                self._logger.debug("kvtier: %d %s miss(es)", n, op)
            elif due:
                self._warn(op, o, due)

    def _due(self, op: str, outcome: KeyOutcome, n: int) -> int:
        """How many failures to log now (0: wait for the interval)."""
        now = self._clock()
        last, pending = self._unlogged.get((op, outcome), (None, 0))
        pending += n
        if last is not None and now - last < self._interval_s:
            self._unlogged[(op, outcome)] = (last, pending)
            return 0
        self._unlogged[(op, outcome)] = (now, 0)
        return pending

    def _warn(self, op: str, outcome: KeyOutcome, pending: int) -> None:
        self._logger.warning(
            "kvtier: %d %s key(s) failed: %s (handled as misses; logged at most every %.0f s)",
            pending,
            op,
            outcome.label,
            self._interval_s,
        )

    def stats(self) -> dict[str, int]:
        """Counts as stats keys: ``key_outcomes_total.<op>.<outcome>``."""
        with self._mu:
            counts = list(self._counts.items())
        return {f"key_outcomes_total.{op}.{o.label}": n for (op, o), n in counts}

    def prometheus(self, name: str = "kvtier_key_outcomes_total") -> list[str]:
        """The counts in Prometheus' text format, labelled by op and outcome."""
        with self._mu:
            counts = sorted(self._counts.items())
        lines = [f"# TYPE {name} counter"] if counts else []
        for (op, o), n in counts:
            lines.append(f'{name}{{op="{op}",outcome="{o.label}"}} {n}')
        return lines
