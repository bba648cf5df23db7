"""From the two-GPU replay to the seed's cluster: a documented model.

Inputs, and nothing else:
  * bench/gpu/results/replay-h200x2.json: the replay's per-request parts
    (full prefill, prefill of the rest on a hit, host->GPU copy, offload,
    decode per token, kvtier load time), measured on H200s;
  * bench/gpu/results/seed-repro-h100.json: kvtier's verified load and
    store rates of a 50,000-token prefix on the H100 host, /dev/shm and
    local disk (RESULTS.md, "The seed's workload on one H100");
  * bench/gpu/results/vllm-tier-70b-h100-host.txt: kvtier's vLLM tier,
    70B TP8 chunks, single-request load rate, /dev/shm and local disk
    (RESULTS.md, "kvtier's vLLM tier vs vLLM's built-in fs tier");
  * the models' shapes and the seed's workload (seed.json's numbers).

Two steps:
  1. Per-request costs for Llama-3.3-70B at TP8 on H100s, scaled from the
     8B measurements: prefill by FLOPs (the H100's dense bf16 rate is the
     H200's), divided by 8 GPUs times a TP efficiency; decode by the bytes
     a step reads (memory-bound) over HBM bandwidth times an efficiency
     calibrated on the replay's HF decode; prefix loads by the KV bytes
     over a measured kvtier load rate.
  2. A discrete-event simulation of the replay's engine logic (one request
     on the GPU at a time, FIFO; lookups at arrival and again at dispatch;
     loads overlap other requests' GPU work; a miss stores its prefix after
     the first token) run first on the replay's own configuration with the
     replay's measured costs (a check of the model against the measurement),
     then on the seed's: 6 engines, 50 groups x 50 prompts, 20 requests in
     flight, 50,000 + 256 tokens in, 512 out.

  python3 bench/gpu/scale_model.py [--json out.json]   (prints markdown tables)
"""

from __future__ import annotations

import argparse
import heapq
import json
import os
import random
import re
import statistics
from collections import OrderedDict, deque
from dataclasses import dataclass

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")

# name: layers, hidden, q heads, kv heads, head dim, MLP width, vocab
SHAPES = {
    "8b": (32, 4096, 32, 8, 128, 14336, 128256),
    "70b": (80, 8192, 64, 8, 128, 28672, 128256),
}
# What the seed's publication reports (Llama-3.3-70B, 6 x 8 H100, Managed
# Lustre), and llm-d's published run of the same shape with 1,024 output tokens.
SEED_REPORTED = {
    "cache_hit_rate": 0.95,
    "gpu_hours_reduction": 0.60,
    "ttft_improvement_with_cpu_tier": 0.40,
    "e2e_latency_reduction_with_cpu_tier": 0.30,
    "llm_d_mean_ttft_s_no_offload": 27.11,
    "llm_d_mean_ttft_s_cpu_plus_lustre": 15.25,
}
H200_HBM, H100_HBM = 4.8e12, 3.35e12  # bytes/s, vendor datasheets (H200.md)


def kv_bytes_per_token(m: str) -> int:
    layers, _, _, kvh, hd, _, _ = SHAPES[m]
    return layers * 2 * kvh * hd * 2


def weight_bytes(m: str) -> float:
    layers, h, qh, kvh, hd, ff, vocab = SHAPES[m]
    per_layer = h * (qh * hd + 2 * kvh * hd) + qh * hd * h + 3 * h * ff
    return 2.0 * (layers * per_layer + 2 * vocab * h)


def prefill_flops(m: str, new: int, cached: int) -> float:
    """Matmul FLOPs of a prefill of `new` tokens on `cached` tokens of KV."""
    layers, h, qh, kvh, hd, ff, _ = SHAPES[m]
    linear = 2.0 * new * layers * (h * (qh * hd + 2 * kvh * hd) + qh * hd * h + 3 * h * ff)
    # QK^T and PV, causal: token i attends to cached + i + 1 positions.
    attn = 4.0 * layers * qh * hd * (new * cached + new * (new + 1) / 2)
    return linear + attn


@dataclass
class Costs:
    """Seconds one engine's GPU spends, and storage rates, per request part."""

    full_prefill: float  # the whole prompt
    rest_prefill: float  # what a hit computes on top of the loaded prefix
    h2d: float  # loaded prefix host -> GPU (and into the cache layout)
    offload: float  # a miss's prefix GPU -> host
    decode: float  # all output tokens' share of the GPU
    load: float  # a prefix from the shared tier into host memory
    store: float  # a prefix into the shared tier (after offload)


def simulate(
    c: Costs,
    mode: str,
    engines: int,
    groups: int,
    prompts: int,
    inflight: int,
    per_engine_loop: bool,
    cpu_capacity: int,
    seed: int,
    lookup_lag: float = 0.0,
) -> dict:
    """The replay's engine logic as events. mode: none | cpu | shared | hybrid.

    per_engine_loop: `inflight` requests per engine, request i to engine i % E
    (the replay); else `inflight` in all, each new request to the next
    engine in turn (a router that ignores prefixes)."""
    reqs = [(g, p) for g in range(groups) for p in range(prompts)]
    random.Random(seed).shuffle(reqs)
    ev: list = []
    seq = 0

    def push(t: float, kind: str, data) -> None:
        nonlocal seq
        seq += 1
        heapq.heappush(ev, (t, seq, kind, data))

    shared: dict[int, float] = {}  # group -> time its chunks are all in place
    ram = [OrderedDict() for _ in range(engines)]  # per-engine LRU of groups
    io_free = [0.0] * engines  # one read channel and one write channel per node
    wr_free = [0.0] * engines
    busy = [False] * engines
    ready: list[deque] = [deque() for _ in range(engines)]
    out = []
    queues = [deque(r for i, r in enumerate(reqs) if i % engines == e) for e in range(engines)]
    glob = deque(reqs)
    rr = [0]

    def in_shared(g: int, t: float) -> bool:
        return mode in ("shared", "hybrid") and shared.get(g, float("inf")) + lookup_lag <= t

    def in_ram(e: int, g: int) -> bool:
        return mode in ("cpu", "hybrid") and g in ram[e]

    def remember(e: int, g: int) -> None:
        ram[e][g] = True
        ram[e].move_to_end(g)
        while len(ram[e]) > cpu_capacity:
            ram[e].popitem(last=False)

    def start_load(e: int, r: dict, t: float) -> None:
        s = max(t, io_free[e])
        io_free[e] = s + c.load
        r["hit"] = "shared"
        push(io_free[e], "loaded", (e, r))

    def arrive(e: int, g: int, p: int, t: float) -> None:
        r = {"g": g, "arrive": t, "hit": None}
        if in_ram(e, g):
            r["hit"] = "ram"
            ready[e].append(r)
        elif in_shared(g, t):
            start_load(e, r, t)
        else:
            ready[e].append(r)
        dispatch(e, t)

    def dispatch(e: int, t: float) -> None:
        while not busy[e] and ready[e]:
            r = ready[e].popleft()
            if r["hit"] == "ram" and not in_ram(e, r["g"]):
                r["hit"] = None  # evicted from the CPU tier while it waited
            if r["hit"] is None:  # the scheduler looks again when it picks it
                if in_ram(e, r["g"]):
                    r["hit"] = "ram"
                elif in_shared(r["g"], t):
                    start_load(e, r, t)
                    continue
            if r["hit"]:
                first = c.h2d + c.rest_prefill
                gpu = first + c.decode
                if r["hit"] == "ram":
                    ram[e].move_to_end(r["g"])
                elif mode == "hybrid":  # vLLM loads into its CPU tier's slots: now cached there
                    remember(e, r["g"])
            else:
                first = c.full_prefill
                stores = mode != "none"
                gpu = first + (c.offload if stores else 0.0) + c.decode
                done = t + first + (c.offload if stores else 0.0)
                if mode in ("cpu", "hybrid"):
                    remember(e, r["g"])
                if mode in ("shared", "hybrid") and r["g"] not in shared:
                    s = max(done, wr_free[e])
                    wr_free[e] = s + c.store
                    shared[r["g"]] = wr_free[e]
            r["ttft"] = t + first - r["arrive"]
            r["gpu"] = gpu
            busy[e] = True
            push(t + gpu, "done", (e, r))

    def next_request(e: int, t: float) -> None:
        if per_engine_loop:
            if queues[e]:
                arrive(e, *queues[e].popleft(), t)
        elif glob:
            target = rr[0] % engines
            rr[0] += 1
            arrive(target, *glob.popleft(), t)

    for _ in range(inflight):
        for e in range(engines if per_engine_loop else 1):
            next_request(e, 0.0)
    end = 0.0
    while ev:
        t, _, kind, (e, r) = heapq.heappop(ev)
        if kind == "loaded":
            ready[e].append(r)
        else:
            busy[e] = False
            out.append(r)
            end = t
            next_request(e, t)
        dispatch(e, t)
    ttft = sorted(r["ttft"] for r in out)
    q = lambda x: ttft[min(len(ttft) - 1, round(x * (len(ttft) - 1)))]  # noqa: E731
    return {
        "requests": len(out),
        "hit_rate": sum(r["hit"] is not None for r in out) / len(out),
        "ttft_p50_s": q(0.5),
        "ttft_p90_s": q(0.9),
        "ttft_mean_s": statistics.fmean(ttft),
        "gpu_s_per_request": statistics.fmean(r["gpu"] for r in out),
        "makespan_s": end,
    }


def load_inputs() -> dict:
    with open(os.path.join(RESULTS, "replay-h200x2.json")) as f:
        rep = json.load(f)
    with open(os.path.join(RESULTS, "seed-repro-h100.json")) as f:
        seed = json.load(f)
    with open(os.path.join(RESULTS, "vllm-tier-70b-h100-host.txt")) as f:
        tier = f.read()
    # "  kvtier   store load1 load20 ..." once per directory, /dev/shm first.
    rows = re.findall(r"^\s+kvtier\s+([\d.]+)\s+([\d.]+)", tier, re.M)
    roots = seed["roots"]
    shm = next(v for k, v in roots.items() if k.startswith("/dev/shm"))
    disk = next(v for k, v in roots.items() if not k.startswith("/dev/shm"))
    gb = seed["kv_bytes"] / 1e9
    return {
        "replay": rep,
        "bw": {  # name -> (load GB/s, store GB/s, where it comes from)
            "shm, seed repro": (
                shm["kvtier_load_GBps"],
                gb / shm["store_s"],
                "seed-repro-h100.json /dev/shm",
            ),
            "shm, vLLM tier 70B": (
                float(rows[0][1]),
                float(rows[0][0]),
                "vllm-tier-70b-h100-host.txt /dev/shm",
            ),
            "disk, seed repro": (
                disk["kvtier_load_GBps"],
                gb / disk["store_s"],
                "seed-repro-h100.json local disk",
            ),
        },
    }


def replay_costs(rep: dict, mode: str) -> tuple[Costs, dict]:
    """Median parts of one replay mode, as the simulator's costs."""
    recs = [r for e in rep["modes"][mode]["engines"] for r in e["requests"]]
    hits = [r for r in recs if r["hit_chunks"]] or recs
    miss = [r for r in recs if not r["hit_chunks"]] or recs
    med = statistics.median
    load = med(r["load_s"] for r in hits) if mode.startswith("kvtier") else 0.0
    c = Costs(
        full_prefill=med(r["prefill_s"] for r in miss),
        rest_prefill=med(r["prefill_s"] for r in hits),
        h2d=med(r["h2d_s"] for r in hits),
        offload=med(r["offload_s"] for r in miss),
        decode=med(r["decode_s"] for r in recs),
        load=load,
        store=0.0,
    )
    return c, rep["modes"][mode]["summary"]


def scaled_costs(inp: dict, a: argparse.Namespace, bw_name: str) -> tuple[Costs, dict]:
    """Per-request costs of 70B TP8 on H100s, from the 8B replay on H200s."""
    rep = inp["replay"]
    args = rep["args"]
    prefix, question, ct = args["prefix"], args["question"], args["chunk_tokens"]
    cached = prefix // ct * ct
    prompt = prefix + question
    base, _ = replay_costs(rep, "cpu")  # the CPU-RAM run: no storage I/O beside it
    dec8 = statistics.median(
        r["decode_s"] / (args["output"] - 1)
        for m in ("none", "cpu")
        for e in rep["modes"][m]["engines"]
        for r in e["requests"]
    )
    # Prefill: the 8B run's effective FLOP/s, scaled to 8 GPUs at tp_eff.
    rate_full = prefill_flops("8b", prompt, 0) / base.full_prefill
    rate_rest = prefill_flops("8b", prompt - cached, cached) / base.rest_prefill
    tp = a.tp * a.tp_eff
    full70 = prefill_flops("70b", prompt, 0) / (rate_full * tp)
    rest70 = prefill_flops("70b", prompt - cached, cached) / (rate_rest * tp)
    # Decode: bytes read per step over HBM bandwidth x efficiency; the
    # efficiency HF reached in the replay, or an assumed engine's.
    ctx = prompt + a.output / 2
    bytes8 = weight_bytes("8b") + ctx * kv_bytes_per_token("8b")
    eff_hf = bytes8 / H200_HBM / dec8
    eff = eff_hf if a.decode_eff == "hf" else float(a.decode_eff)
    batch = a.inflight / a.engines
    step70 = (weight_bytes("70b") + batch * ctx * kv_bytes_per_token("70b")) / a.tp
    step70 /= H100_HBM * eff
    decode70 = a.output * step70 / batch  # each request's share of batched steps
    # Copies: per GPU, 1/tp of the prefix, at the rates measured per GPU.
    kv8 = cached * kv_bytes_per_token("8b")
    kv70 = cached * kv_bytes_per_token("70b")
    h2d70 = base.h2d * (kv70 / a.tp) / kv8
    off70 = base.offload * (kv70 / a.tp) / kv8
    load_gbps, store_gbps, _ = inp["bw"][bw_name]
    c = Costs(
        full70, rest70, h2d70, off70, decode70, kv70 / 1e9 / load_gbps, kv70 / 1e9 / store_gbps
    )
    derived = {
        "8b_prefill_TFLOPs_effective": rate_full / 1e12,
        "8b_rest_prefill_TFLOPs_effective": rate_rest / 1e12,
        "8b_decode_s_per_token": dec8,
        "hf_decode_bandwidth_efficiency": eff_hf,
        "decode_efficiency_used": eff,
        "70b_decode_step_s": step70,
        "70b_prefix_GB": kv70 / 1e9,
    }
    return c, derived


def predict(inp: dict, a: argparse.Namespace, bw_name: str):
    """The seed's configuration under a's assumptions, one shared-tier rate."""
    c, derived = scaled_costs(inp, a, bw_name)
    cap = a.cpu_capacity or a.groups
    res = {}
    for mode in ("none", "cpu", "shared", "hybrid"):
        runs = [
            simulate(
                c, mode, a.engines, a.groups, a.prompts, a.inflight, False, cap, s, a.lookup_lag
            )
            for s in range(a.seeds)
        ]
        res[mode] = {k: statistics.fmean(r[k] for r in runs) for k in runs[0]}
    gpuh = {m: r["gpu_s_per_request"] * r["requests"] * a.tp / 3600 for m, r in res.items()}
    ttft = {m: r["ttft_mean_s"] for m, r in res.items()}
    cmp = {
        "hit_rate_shared": res["shared"]["hit_rate"],
        "gpu_hours_reduction_shared_vs_none": 1 - gpuh["shared"] / gpuh["none"],
        "gpu_hours_reduction_hybrid_vs_none": 1 - gpuh["hybrid"] / gpuh["none"],
        "ttft_mean_reduction_hybrid_vs_cpu": 1 - ttft["hybrid"] / ttft["cpu"],
        "ttft_mean_reduction_hybrid_vs_none": 1 - ttft["hybrid"] / ttft["none"],
    }
    return c, derived, res, gpuh, cmp


def sensitivity(inp: dict, a: argparse.Namespace, report: dict) -> list[str]:
    """One assumption changed at a time, fast shared tier (seed repro, /dev/shm)."""
    variants = [("as above", {})]
    variants += [(f"decode efficiency {v}", {"decode_eff": v}) for v in ("0.5", "0.8")]
    variants += [(f"TP8 prefill efficiency {v}", {"tp_eff": v}) for v in (0.6, 1.0)]
    variants += [(f"CPU tier {v} prefixes/node", {"cpu_capacity": v}) for v in (3, 10)]
    variants += [("1,024 output tokens (llm-d's run)", {"output": 1024})]
    variants += [
        ("1,024 output tokens, decode efficiency 0.8", {"output": 1024, "decode_eff": "0.8"})
    ]
    lines = [
        "Sensitivity (shared tier: seed repro /dev/shm rate): one assumption changed at a time",
        "",
        "| assumption | shared hit rate | GPU-hours saved, shared vs none | TTFT mean "
        "none / cpu / hybrid s | TTFT saved, hybrid vs cpu | hybrid vs none |",
        "|---|---|---|---|---|---|",
    ]
    report["sensitivity"] = {}
    for name, change in variants:
        b = argparse.Namespace(**{**vars(a), **change})
        _, derived, res, _, cmp = predict(inp, b, "shm, seed repro")
        report["sensitivity"][name] = {
            "change": change,
            "vs_seed": cmp,
            "derived": derived,
            "ttft_mean_s": {m: r["ttft_mean_s"] for m, r in res.items()},
        }
        t = " / ".join(f"{res[m]['ttft_mean_s']:.1f}" for m in ("none", "cpu", "hybrid"))
        lines.append(
            f"| {name} | {cmp['hit_rate_shared']:.3f} | "
            f"{cmp['gpu_hours_reduction_shared_vs_none']:.0%} | {t} | "
            f"{cmp['ttft_mean_reduction_hybrid_vs_cpu']:.0%} | "
            f"{cmp['ttft_mean_reduction_hybrid_vs_none']:.0%} |"
        )
    return lines


def fmt_row(name: str, s: dict) -> str:
    return (
        f"| {name} | {s['hit_rate']:.2f} | {s['ttft_p50_s']:.2f} | {s['ttft_p90_s']:.2f} | "
        f"{s['ttft_mean_s']:.2f} | {s['gpu_s_per_request']:.2f} |"
    )


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--engines", type=int, default=6, help="nodes, one TP8 engine each")
    p.add_argument("--tp", type=int, default=8)
    p.add_argument("--tp-eff", type=float, default=0.8, help="assumed TP8 prefill efficiency")
    p.add_argument(
        "--decode-eff",
        default="hf",
        help="HBM efficiency of decode: 'hf' (calibrated on the replay) or a number",
    )
    p.add_argument("--groups", type=int, default=50)
    p.add_argument("--prompts", type=int, default=50)
    p.add_argument("--inflight", type=int, default=20)
    p.add_argument("--output", type=int, default=512)
    p.add_argument(
        "--cpu-capacity",
        type=int,
        default=0,
        help="prefixes a node's CPU tier holds (0: all groups)",
    )
    p.add_argument("--seeds", type=int, default=5, help="request orders averaged")
    p.add_argument(
        "--lookup-lag",
        type=float,
        default=1.0,
        help="seconds a stored prefix stays invisible (the tier's lookup_cache_s)",
    )
    p.add_argument(
        "--predict-replay",
        metavar="G,P,C,SEED",
        help="only predict a replay of G groups x P prompts, C in flight per engine, "
        "request order SEED, from the recorded replay's parts (then measure it)",
    )
    p.add_argument("--json")
    a = p.parse_args()
    inp = load_inputs()
    rep = inp["replay"]
    ra = rep["args"]
    report: dict = {"assumptions": vars(a), "check": {}, "seed": {}, "seed_reported": SEED_REPORTED}
    lines = [
        "Check: the simulator on the replay's own configuration and measured parts",
        "",
        "| mode | source | hit rate | TTFT p50 s | TTFT p90 s | TTFT mean s | GPU-s/request |",
        "|---|---|---|---|---|---|---|",
    ]
    shm_store_gbps = inp["bw"]["shm, seed repro"][1]
    kv8 = ra["prefix"] // ra["chunk_tokens"] * ra["chunk_tokens"] * kv_bytes_per_token("8b")
    g, pr, conc, order = ra["groups"], ra["prompts"], ra["concurrency"], ra["seed"]
    if a.predict_replay:
        g, pr, conc, order = (int(x) for x in a.predict_replay.split(","))
        lines[0] = f"Prediction for a replay of {g} groups x {pr} prompts, {conc} in flight per "
        lines[0] += f"engine, order {order}, from the parts measured in the recorded replay"
    for mode, sim_mode in (("none", "none"), ("cpu", "cpu"), ("kvtier-shm", "shared")):
        c, meas = replay_costs(rep, mode)
        c.store = kv8 / 1e9 / shm_store_gbps  # not timed in the replay: the seed repro's rate
        s = simulate(c, sim_mode, 2, g, pr, conc, True, g, order, lookup_lag=a.lookup_lag)
        report["check"][mode] = {"measured": meas, "model": s}
        if a.predict_replay:
            report["check"][mode] = {"model": s, "config": [g, pr, conc, order]}
            lines.append(fmt_row(f"{mode} | model", s))
            continue
        lines.append(fmt_row(f"{mode} | measured", meas))
        lines.append(fmt_row(f"{mode} | model", s))
    if a.predict_replay:
        print("\n".join(lines))
        if a.json:
            with open(a.json, "w") as f:
                json.dump(report["check"], f, indent=1)
        return
    cap = a.cpu_capacity or a.groups
    lines += [
        "",
        f"Seed configuration: {a.engines} engines x TP{a.tp}, {a.groups} groups x "
        f"{a.prompts} prompts, {a.inflight} in flight, {a.output} output tokens, "
        f"CPU tier {cap} prefixes/node, mean of {a.seeds} request orders",
        "",
    ]
    for bw_name in inp["bw"]:
        c, derived, res, gpuh, cmp = predict(inp, a, bw_name)
        report["seed"][bw_name] = {
            "costs": vars(c),
            "derived": derived,
            "modes": res,
            "gpu_hours": gpuh,
            "vs_seed": cmp,
            "bandwidth_source": inp["bw"][bw_name],
        }
        lines += [
            f"Shared tier at {inp['bw'][bw_name][0]:.2f} GB/s load, "
            f"{inp['bw'][bw_name][1]:.2f} GB/s store ({inp['bw'][bw_name][2]}); "
            f"per request: full prefill {c.full_prefill:.2f} s, rest {c.rest_prefill:.3f} s,"
            f" load {c.load:.2f} s, decode share {c.decode:.2f} s",
            "",
            "| mode | hit rate | TTFT p50 s | TTFT p90 s | TTFT mean s | GPU-s/request |"
            " GPU-hours |",
            "|---|---|---|---|---|---|---|",
        ]
        for m, r in res.items():
            lines.append(fmt_row(m, r) + f" {gpuh[m]:.1f} |")
        lines.append("")
        lines.append("vs seed: " + ", ".join(f"{k} {v:.2f}" for k, v in cmp.items()))
        lines.append("")
    lines += sensitivity(inp, a, report)
    print("\n".join(lines))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
