"""``python -m kvtier.demo --root DIR``: node A, then node B, on one kvtier
directory. Exit status 1 if any answer through the cache differs."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from kvtier.demo import report_a, report_b, run_node


def main() -> int:
    # Progress lines as they happen, also when stdout is a pipe or a file
    # (block-buffered otherwise: nothing for minutes). The nodes run this too.
    sys.stdout.reconfigure(line_buffering=True)
    if len(sys.argv) > 1 and sys.argv[1] in ("node-a", "node-b"):
        from kvtier.demo import nodes

        nodes.main(sys.argv[1:])
        return 0
    p = argparse.ArgumentParser(prog="python -m kvtier.demo", description=__doc__)
    p.add_argument("--root", required=True, help="kvtier directory shared by both nodes")
    p.add_argument(
        "--context-tokens", type=int, default=2048, help="shared context: at least this many tokens"
    )
    p.add_argument("--chunk-tokens", type=int, default=256, help="tokens per stored chunk")
    p.add_argument("--questions", type=int, default=3, help="questions for node B (1-5)")
    p.add_argument("--new-tokens", type=int, default=24, help="greedy tokens per answer")
    p.add_argument(
        "--model-cache",
        type=Path,
        default=None,
        help="where the converted model is kept (default ~/.cache/kvtier/demo-model)",
    )
    args = p.parse_args()
    kw = dict(
        context_tokens=args.context_tokens,
        chunk_tokens=args.chunk_tokens,
        new_tokens=args.new_tokens,
        questions=args.questions,
        model_cache=args.model_cache,
    )
    t0 = time.perf_counter()
    report_a(run_node("node-a", args.root, **kw))
    same = report_b(run_node("node-b", args.root, **kw))
    print(f"demo: both nodes in {time.perf_counter() - t0:.1f} s")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
