"""A vLLM TieringOffloadingManager with KV events on, kvtier's tier or
vLLM's own fs tier beneath it, and vLLM's event path above it: the
offloading connector's event translation (OffloadingEventsTracker) and
vLLM's ZMQ publisher, as the scheduler runs them each step."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import msgspec
import zmq
from vllm.distributed.kv_events import KVEventBatch, ZmqEventPublisher
from vllm.distributed.kv_transfer.kv_connector.v1.offloading.events import (
    OffloadingEventsTracker,
)
from vllm.v1.kv_offload.base import OffloadingKVEventsConfig

sys.path.insert(0, str(Path(__file__).parent))
import vllm_harness  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


def kvtier_tier(root: str, **options: Any) -> dict[str, Any]:
    """kvtier's tier with KV events on, its journal polled every 0.2 s."""
    return vllm_harness.kvtier_tier(
        root, **{"enable_kv_events": True, "journal_poll_s": 0.2, **options}
    )


def fs_tier(root: str) -> dict[str, Any]:
    """vLLM's fs tier with KV events on."""
    return vllm_harness.fs_tier(root, enable_kv_events=True)


def make_manager(tier: dict[str, Any], *, events: bool = True, **kw: Any):
    """A manager over one tier; kw as vllm_harness.offloading_config
    (tp, agnostic, canonical, slots, ...)."""
    return vllm_harness.manager_for(vllm_harness.offloading_config([tier], events=events, **kw))


class Publisher:
    """vLLM's event path after the manager: the connector's translation and
    the real ZMQ publisher; a SUB socket decodes what reaches the wire."""

    def __init__(self, port: int) -> None:
        self.tracker = OffloadingEventsTracker(
            OffloadingKVEventsConfig(enable_kv_cache_events=True, self_describing_kv_events=False)
        )
        # A wildcard endpoint makes vLLM's publisher bind (as in deploy/).
        self.pub = ZmqEventPublisher(data_parallel_rank=0, endpoint=f"tcp://*:{port}", topic="kv")
        self.sub = zmq.Context.instance().socket(zmq.SUB)
        self.sub.connect(f"tcp://127.0.0.1:{port}")
        self.sub.setsockopt(zmq.SUBSCRIBE, b"kv")
        self.decoder = msgspec.msgpack.Decoder(KVEventBatch)
        time.sleep(0.3)  # PUB/SUB: let the subscription reach the publisher

    def step(self, manager) -> int:
        """What the scheduler does after each step: take, translate, publish."""
        with manager.lock:
            raw = list(manager.take_events())
        events = list(self.tracker.take_events(raw))
        if events:
            self.pub.publish(KVEventBatch(ts=time.time(), events=events))
        return len(events)

    def receive(self, timeout_s: float) -> list[tuple[float, Any]]:
        """(arrival time, event) of every event received within timeout_s."""
        out = []
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            if not self.sub.poll(50):
                if out:
                    break
                continue
            _topic, _seq, payload = self.sub.recv_multipart()
            batch = self.decoder.decode(payload)
            now = time.monotonic()
            out += [(now, e) for e in batch.events]
        return out

    def close(self) -> None:
        self.sub.close(linger=0)
        self.pub.shutdown()


def kvtier_cli() -> str | None:
    for path in (os.environ.get("KVTIER_CLI"), str(REPO / "build/release/src/cli/kvtier")):
        if path and os.access(path, os.X_OK):
            return path
    return None


def evict_everything(cli: str, root: str) -> subprocess.CompletedProcess:
    """One real evictor pass that wants every chunk gone."""
    return subprocess.run(
        [cli, "evict", "--once", "--quota-bytes", "1", "--low", "0", "--high", "0.000001",
         "--min-age", "0", "--max-delete-rate", "0", "--port", "0", root],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
