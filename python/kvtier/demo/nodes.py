"""The two nodes. Each runs in its own OS process with its own kvtier Store on
the same directory, as two inference servers on one shared filesystem would.

Node A serves the document first: it looks its chunks up (all miss on a fresh
directory), prefills the shared context and stores every full chunk.
Node B then gets questions about the same document. For each one it answers
twice: once without the cache (prefill of context + question: the miss), and
once through kvtier (look up, load and verify the chunks, rebuild the model's
cache, prefill only what is left: the hit), and it checks that the KV it
loaded is bit for bit the KV of recomputing the context as node A did, and
that the hit gives the greedy tokens of that recomputation (`recompute`);
whether the miss's one-pass prefill gave them too is reported.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import torch

import kvtier
from kvtier.demo import kv_chunks, model

DOCUMENT = Path(__file__).with_name("botchan_chapter1.txt")
TITLE = "Botchan (Master Darling) by Natsume Soseki, translated by Yasotaro Morri (1918)"
SYSTEM = "You are a helpful assistant. Answer questions about the story in one short sentence."
QUESTIONS = [
    "Why was the narrator once laid up for about a week?",
    "What did Kantaro steal from the narrator's garden?",
    "Who was Kiyo?",
    "What did the narrator cut with the pen-knife?",
    "How did father and mother feel about the narrator?",
]


def context_ids(tok: Any, min_tokens: int) -> list[int]:
    """The shared prefix: a system turn, then a user turn holding the fewest
    whole lines of the chapter that bring it to ``min_tokens`` (all of it if
    it is shorter). Reaching a multiple of the chunk size, rather than
    stopping short of it, leaves only a few tokens past the last full chunk
    for node B to recompute."""
    lines = DOCUMENT.read_text(encoding="utf-8").splitlines(keepends=True)

    def ids(n: int) -> list[int]:
        body = "".join(lines[:n])
        text = (
            f"<|im_start|>system\n{SYSTEM}<|im_end|>\n"
            f"<|im_start|>user\nHere is a story, {TITLE}.\n\n{body}<|im_end|>\n"
        )
        return tok(text).input_ids

    lo, hi = 1, len(lines)  # the fewest lines that reach min_tokens
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if len(ids(mid)) >= min_tokens else (mid + 1, hi)
    return ids(lo)


def question_ids(tok: Any, question: str) -> list[int]:
    return tok(f"<|im_start|>user\n{question}<|im_end|>\n<|im_start|>assistant\n").input_ids


def greedy(lm: Any, ids: list[int], cache: Any, new_tokens: int, eos: int) -> tuple[float, list]:
    """Prefill ``ids`` on top of ``cache`` and decode greedily; returns the
    time to the first token and the generated ids."""
    t0 = time.perf_counter()
    with torch.inference_mode():
        out = lm(input_ids=torch.tensor([ids]), past_key_values=cache, logits_to_keep=1)
        nxt = int(out.logits[0, -1].argmax())
        ttft = time.perf_counter() - t0
        tokens = [nxt]
        while nxt != eos and len(tokens) < new_tokens:
            out = lm(input_ids=torch.tensor([[nxt]]), past_key_values=out.past_key_values)
            nxt = int(out.logits[0, -1].argmax())
            tokens.append(nxt)
    return ttft, tokens


def progress(node: str, message: str) -> None:
    """One line to stdout; the parent passes it through as it comes."""
    print(f"{node}: {message}")


def open_store(root: str, lm: Any, chunk_tokens: int, digest: str) -> kvtier.Store:
    fp = kv_chunks.fingerprint(lm.config, lm.dtype, chunk_tokens, digest)
    return kvtier.Store(root, fp, read_threads=4, write_threads=4)


def node_a(root: str, context_tokens: int, chunk_tokens: int, cache_dir: Path | None) -> dict:
    t0 = time.perf_counter()
    lm, tok, digest = model.load(cache_dir)
    ctx = context_ids(tok, context_tokens)
    keys = kv_chunks.chunk_keys(ctx, chunk_tokens)
    progress("node A", f"model loaded in {time.perf_counter() - t0:.1f} s")
    with open_store(root, lm, chunk_tokens, digest) as store:
        found = store.contains(keys)
        progress("node A", f"{sum(found)}/{len(keys)} chunks found; prefilling {len(ctx)} tokens")
        t0 = time.perf_counter()
        with torch.inference_mode():
            cache = kv_chunks.unpack([], lm.config)
            out = lm(input_ids=torch.tensor([ctx]), past_key_values=cache, logits_to_keep=1)
        prefill_s = time.perf_counter() - t0
        chunks = kv_chunks.pack(out.past_key_values, len(keys), chunk_tokens)
        progress("node A", f"prefilled in {prefill_s:.1f} s; storing {len(keys)} chunks")
        t0 = time.perf_counter()
        ok = store.wait(store.submit_put(keys, chunks)) or []
        store_s = time.perf_counter() - t0
        stats = store.stats()
    return {
        "pid": os.getpid(),
        "context_tokens": len(ctx),
        "chunks": len(keys),
        "hits_before": sum(found),
        "prefill_s": prefill_s,
        "stored": sum(ok),
        "store_s": store_s,
        "written_bytes": stats["written_bytes_total"],
    }


def recompute(
    lm: Any, ctx: list[int], ids: list[int], cached: int, new_tokens: int, eos: int
) -> tuple[list, Any]:
    """The answer without the cache, computed as the hit's KV was: the
    context prefilled in one pass as node A did, cut back to its first
    ``cached`` tokens, then the rest of the prompt on top. Its KV is what the
    loaded chunks must equal bit for bit, and the hit must give exactly its
    tokens. The miss's one-pass prefill of the whole prompt need not: it
    computes in matrix products of other shapes, and bf16 kernels need not
    give the same bits for another shape. Returns the tokens and the cache."""
    cache = kv_chunks.unpack([], lm.config)
    if cached:
        with torch.inference_mode():
            lm(input_ids=torch.tensor([ctx]), past_key_values=cache, logits_to_keep=1)
        if len(ctx) > cached:
            cache.crop(cached - len(ctx))  # a negative count: tokens to drop
    return greedy(lm, ids[cached:], cache, new_tokens, eos)[1], cache


def load_prefix(store: kvtier.Store, keys: list[bytes], shape: tuple, dtype: Any) -> list:
    """The longest run of leading chunks that are present and verify; a chunk
    that fails to load ends the run (the rest is recomputed, never guessed)."""
    present = store.contains(keys) + [False]
    bufs = [torch.empty(shape, dtype=dtype) for _ in range(present.index(False))]
    ok = (store.wait(store.submit_get(keys[: len(bufs)], bufs)) if bufs else []) or []
    return bufs[: (ok + [False]).index(False)]


def node_b(
    root: str,
    context_tokens: int,
    chunk_tokens: int,
    questions: list[str],
    new_tokens: int,
    cache_dir: Path | None,
) -> dict:
    t0 = time.perf_counter()
    lm, tok, digest = model.load(cache_dir)
    progress("node B", f"model loaded in {time.perf_counter() - t0:.1f} s")
    eos = tok.convert_tokens_to_ids("<|im_end|>")
    ctx = context_ids(tok, context_tokens)
    shape = kv_chunks.chunk_shape(lm.config, chunk_tokens)
    greedy(lm, ctx[:32], None, 1, eos)  # first-call kernel set-up, timed by neither path
    results = []
    with open_store(root, lm, chunk_tokens, digest) as store:
        for i, q in enumerate(questions, 1):
            progress("node B", f"Q{i}/{len(questions)}: without the cache, then through kvtier")
            ids = ctx + question_ids(tok, q)
            miss_cache = kv_chunks.unpack([], lm.config)
            miss_s, ref = greedy(lm, ids, miss_cache, new_tokens, eos)
            before = store.stats()["read_bytes_total"]
            t0 = time.perf_counter()
            keys = kv_chunks.chunk_keys(ids, chunk_tokens)
            chunks = load_prefix(store, keys, shape, lm.dtype)
            cache = kv_chunks.unpack(chunks, lm.config)
            load_s = time.perf_counter() - t0
            cached = len(chunks) * chunk_tokens
            hit_s, got = greedy(lm, ids[cached:], cache, new_tokens, eos)
            want, want_cache = recompute(lm, ctx, ids, cached, new_tokens, eos)
            recomputed = kv_chunks.pack(want_cache, len(chunks), chunk_tokens)
            results.append(
                {
                    "question": q,
                    "prompt_tokens": len(ids),
                    "chunks_looked_up": len(keys),
                    "chunks_hit": len(chunks),
                    "cached_tokens": cached,
                    "bytes_loaded": store.stats()["read_bytes_total"] - before,
                    "miss_ttft_s": miss_s,
                    "hit_ttft_s": load_s + hit_s,
                    "load_s": load_s,
                    "tokens_equal": got == want,
                    "one_pass_equal": got == ref,
                    "kv_bitwise_equal": all(torch.equal(a, b) for a, b in zip(chunks, recomputed)),
                    "new_tokens": len(want),
                    "answer": tok.decode(got, skip_special_tokens=True).strip(),
                }
            )
    return {"pid": os.getpid(), "questions": results}


def main(argv: list[str]) -> None:
    """``node-a|node-b ROOT OUT.json CONTEXT_TOKENS CHUNK_TOKENS NEW_TOKENS N_QUESTIONS
    [MODEL_CACHE]``: run one node, write its results as JSON."""
    role, root, out = argv[0], argv[1], argv[2]
    context_tokens, chunk_tokens, new_tokens, n_questions = map(int, argv[3:7])
    cache_dir = Path(argv[7]) if len(argv) > 7 else None
    model.offline()
    if role == "node-a":
        result = node_a(root, context_tokens, chunk_tokens, cache_dir)
    else:
        result = node_b(
            root, context_tokens, chunk_tokens, QUESTIONS[:n_questions], new_tokens, cache_dir
        )
    Path(out).write_text(json.dumps(result))
