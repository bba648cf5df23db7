"""Two inference "nodes" share a real model's context through kvtier.

``python -m kvtier.demo --root DIR`` runs node A, then node B, each in its
own process with its own Store on DIR (see :mod:`kvtier.demo.nodes`), and
prints what B gained and whether it answered exactly as when it recomputes
the context.
Each node's progress lines (its stdout, which it inherits) come as it goes.
This module itself needs neither torch nor transformers; the nodes do.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any


def run_node(
    role: str,
    root: str,
    context_tokens: int = 2048,
    chunk_tokens: int = 256,
    new_tokens: int = 24,
    questions: int = 3,
    model_cache: Path | None = None,
) -> dict[str, Any]:
    """Run ``role`` ("node-a" or "node-b") in a child process; its JSON result."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "result.json")
        cmd = [
            sys.executable,
            "-m",
            "kvtier.demo",
            role,
            root,
            out,
            str(context_tokens),
            str(chunk_tokens),
            str(new_tokens),
            str(questions),
        ]
        cmd += [str(model_cache)] if model_cache else []
        env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
        subprocess.run(cmd, check=True, env=env)
        return json.loads(Path(out).read_text())


def _mb(n: float) -> str:
    return f"{n / 1e6:.1f} MB"


def report_a(a: dict[str, Any], print_: Any = print) -> None:
    """Print node A's result."""
    print_(
        f"node A (pid {a['pid']}): {a['hits_before']}/{a['chunks']} chunks found; "
        f"prefilled {a['context_tokens']} context tokens in {a['prefill_s']:.2f} s; "
        f"stored {a['stored']} chunks ({_mb(a['written_bytes'])}) in {a['store_s']:.2f} s"
    )


def report_b(b: dict[str, Any], print_: Any = print) -> bool:
    """Print node B's results; True if every answer matched."""
    print_(f"node B (pid {b['pid']}), its own Store on the same directory:")
    same = True
    for i, q in enumerate(b["questions"], 1):
        same &= q["tokens_equal"] and q["kv_bitwise_equal"]
        print_(f"Q{i} {q['question']}")
        print_(f"   miss: TTFT {q['miss_ttft_s']:6.2f} s  (prefill {q['prompt_tokens']} tokens)")
        print_(
            f"   hit:  TTFT {q['hit_ttft_s']:6.2f} s  (chunks {q['chunks_hit']}/"
            f"{q['chunks_looked_up']}, {q['cached_tokens']}/{q['prompt_tokens']} tokens "
            f"from kvtier, {_mb(q['bytes_loaded'])} loaded and verified in "
            f"{q['load_s']:.2f} s; prefill {q['prompt_tokens'] - q['cached_tokens']} tokens)"
            f"  {q['miss_ttft_s'] / q['hit_ttft_s']:.1f}x sooner"
        )
        print_(
            f"   loaded KV bit-identical to recomputed: "
            f"{'yes' if q['kv_bitwise_equal'] else 'NO'}; same {q['new_tokens']} tokens as "
            f"recomputing it: {'yes' if q['tokens_equal'] else 'NO'}"
        )
        one_pass = "yes" if q["one_pass_equal"] else "no (products of another shape, in bf16)"
        print_(f"   same tokens as the one-pass prefill: {one_pass}")
        print_(f"   answer: {q['answer']!r}")
    qs = b["questions"]
    print_(
        f"hit rate on B: {sum(q['chunks_hit'] for q in qs)}/"
        f"{sum(q['chunks_looked_up'] for q in qs)} chunks looked up; "
        f"{sum(q['cached_tokens'] for q in qs)}/{sum(q['prompt_tokens'] for q in qs)} "
        f"prompt tokens served from kvtier; "
        f"{_mb(sum(q['bytes_loaded'] for q in qs))} loaded"
    )
    return same
