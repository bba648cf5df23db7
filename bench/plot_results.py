"""Plots of the benchmark results, read from the result files (no number is
typed in here): the two-GPU replay, the scale model against the seed, the
store against fio, and kvtier's vLLM tier against vLLM's built-in one.
PNG files go to bench/plots/. Needs matplotlib (a bench dependency, not a
test one: `pip install matplotlib`).

  python3 bench/plot_results.py
"""

from __future__ import annotations

import json
import os
import re
import statistics
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

BENCH = os.path.dirname(os.path.abspath(__file__))
GPU = os.path.join(BENCH, "gpu", "results")
OUT = os.path.join(BENCH, "plots")
MODES = [
    ("none", "no offload"),
    ("cpu", "CPU-RAM tier\n(per node)"),
    ("kvtier-shm", "kvtier\n/dev/shm"),
    ("kvtier-disk", "kvtier\nlocal disk"),
]


def replay_plots() -> None:
    with open(os.path.join(GPU, "replay-h200x2.json")) as f:
        rep = json.load(f)
    modes = [(m, label) for m, label in MODES if m in rep["modes"]]
    recs = {m: [r for e in rep["modes"][m]["engines"] for r in e["requests"]] for m, _ in modes}
    a = rep["args"]
    title = (
        f"Replay on 2 x H200: {a['groups']} groups x {a['prompts']} prompts, "
        f"{a['prefix']:,}-token prefix + {a['question']}-token question, "
        f"{a['output']} output tokens, {a['concurrency']} in flight per engine"
    )

    fig, ax = plt.subplots(figsize=(9, 4.8))
    data = [[r["ttft_s"] for r in recs[m]] for m, _ in modes]
    ax.boxplot(data, whis=(10, 90), showfliers=False, widths=0.5)
    for i, d in enumerate(data, start=1):
        ax.scatter([i + (j % 7 - 3) * 0.03 for j in range(len(d))], d, s=10, alpha=0.6)
    ax.set_xticks(range(1, len(modes) + 1), [label for _, label in modes])
    ax.set_ylabel("time to first token, s")
    for i, (m, _) in enumerate(modes, start=1):
        s = rep["modes"][m]["summary"]
        ax.text(
            i,
            ax.get_ylim()[1] * 0.97,
            f"hit rate {s['hit_rate']:.2f}\n"
            f"p50 {s['ttft_p50_s']:.2f} s\np90 {s['ttft_p90_s']:.2f} s",
            ha="center",
            va="top",
            fontsize=8,
        )
    ax.set_title(title + "\n(box: p10-p90 whiskers; dots: every request)", fontsize=9)
    fig.tight_layout()
    fig.savefig(os.path.join(OUT, "replay_ttft.png"), dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(9, 4.8))
    parts = [
        ("h2d_s", "prefix host->GPU + unpack"),
        ("prefill_s", "prefill"),
        ("offload_s", "prefix GPU->host (miss)"),
        ("decode_s", "decode"),
    ]
    bottom = [0.0] * len(modes)
    for key, label in parts:
        vals = [statistics.fmean(r[key] for r in recs[m]) for m, _ in modes]
        ax.bar(range(len(modes)), vals, bottom=bottom, label=label, width=0.55)
        bottom = [b + v for b, v in zip(bottom, vals)]
    for i, (m, _) in enumerate(modes):
        s = rep["modes"][m]["summary"]
        ax.text(
            i,
            bottom[i] + 0.04,
            f"{s['gpu_s_per_request']:.2f} s\n({s['requests']} requests)",
            ha="center",
            va="bottom",
            fontsize=8,
        )
    ax.set_xticks(range(len(modes)), [label for _, label in modes])
    ax.set_ylabel("GPU-busy seconds per request (mean)")
    ax.set_ylim(0, max(bottom) * 1.25)
    ax.legend(fontsize=8, loc="upper right")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(os.path.join(OUT, "replay_gpu_seconds.png"), dpi=120)
    plt.close(fig)


def scale_plot() -> None:
    with open(os.path.join(GPU, "scale-model.json")) as f:
        model = json.load(f)
    base = model["seed"]["shm, seed repro"]["vs_seed"]
    sens = [v["vs_seed"] for v in model["sensitivity"].values()]
    rows = [
        ("hit rate (shared tier)", "hit_rate_shared", "cache_hit_rate"),
        (
            "GPU-hours saved\n(shared vs none)",
            "gpu_hours_reduction_shared_vs_none",
            "gpu_hours_reduction",
        ),
        (
            "mean TTFT saved\n(CPU+shared vs CPU only)",
            "ttft_mean_reduction_hybrid_vs_cpu",
            "ttft_improvement_with_cpu_tier",
        ),
    ]
    seed = model["seed_reported"]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    x = range(len(rows))
    ax.bar([i - 0.2 for i in x], [seed[k] for _, _, k in rows], width=0.4, label="seed reports")
    pred = [base[k] for _, k, _ in rows]
    lo = [p - min(s[k] for s in sens) for p, (_, k, _) in zip(pred, rows)]
    hi = [max(s[k] for s in sens) - p for p, (_, k, _) in zip(pred, rows)]
    ax.bar(
        [i + 0.2 for i in x],
        pred,
        width=0.4,
        yerr=[lo, hi],
        capsize=4,
        label="model from the replay (bar: as assumed; whisker: sensitivity range)",
    )
    ax.set_xticks(list(x), [r[0] for r in rows])
    ax.set_ylim(0, 1.15)
    ax.legend(fontsize=8)
    ax.set_title(
        "Seed's cluster (6 x 8 H100, Llama-3.3-70B TP8, 50 x 50 requests, 20 in "
        "flight):\nreported vs predicted from the two-GPU replay",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(os.path.join(OUT, "scale_model_vs_seed.png"), dpi=120)
    plt.close(fig)


def model_check_plot() -> None:
    """The simulator against the two measured replays (the second one predicted first)."""
    with open(os.path.join(GPU, "scale-model.json")) as f:
        fitted = json.load(f)["check"]
    with open(os.path.join(GPU, "replay-h200x2-g3p14c4-prediction.json")) as f:
        predicted = json.load(f)
    with open(os.path.join(GPU, "replay-h200x2-g3p14c4.json")) as f:
        measured = json.load(f)["modes"]
    pairs = [
        (
            "4 x 10, 3 in flight (its own parts)",
            {m: (v["model"], v["measured"]) for m, v in fitted.items()},
        )
    ]
    pairs.append(
        (
            "3 x 14, 4 in flight (predicted before the run)",
            {m: (v["model"], measured[m]["summary"]) for m, v in predicted.items()},
        )
    )
    metrics = [
        ("ttft_p50_s", "TTFT p50", "o"),
        ("ttft_p90_s", "TTFT p90", "^"),
        ("ttft_mean_s", "TTFT mean", "s"),
        ("gpu_s_per_request", "GPU-s/request", "D"),
    ]
    fig, ax = plt.subplots(figsize=(8.8, 6.4))
    notes = []
    for ci, (cname, rows) in enumerate(pairs):
        for key, label, marker in metrics:
            xs = [rows[m][0][key] for m in rows]
            ys = [rows[m][1][key] for m in rows]
            ax.scatter(
                xs, ys, marker=marker, s=40, color=f"C{ci}", label=f"{label}, {cname}", alpha=0.8
            )
        notes.append(
            cname
            + ": hit rate model / measured "
            + ", ".join(
                f"{m} {rows[m][0]['hit_rate']:.2f} / {rows[m][1]['hit_rate']:.2f}" for m in rows
            )
        )
    lim = [0.5, 13]
    ax.plot(lim, lim, color="grey", lw=0.8)
    ax.fill_between(
        lim, [v * 0.8 for v in lim], [v * 1.2 for v in lim], color="grey", alpha=0.12, label="±20%"
    )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lim)
    ax.set_ylim(lim)
    ax.set_xlabel("model, s")
    ax.set_ylabel("measured on 2 x H200, s")
    ax.legend(fontsize=7, loc="upper left")
    ax.set_title(
        "The scale model's simulator vs the replays (modes: no offload, CPU tier, "
        "kvtier /dev/shm)\n" + "\n".join(notes),
        fontsize=7,
    )
    fig.tight_layout()
    fig.savefig(os.path.join(OUT, "scale_model_check.png"), dpi=120)
    plt.close(fig)


CELL = re.compile(r"^### dir=(\S+) size=(\S+) count=\d+ threads=\d+ (--no-verify|verify)")
RATIO = re.compile(
    r"store\s+[\d.]+ fio-w\s+[\d.]+ ratio ([\d.]+) \| load\s+[\d.]+ fio-r\s+[\d.]+ "
    r"ratio ([\d.]+)"
)


def parse_grid(path: str) -> dict:
    """(dir kind, size, verify) -> [(store ratio, load ratio), ...] for every cell run."""
    cells: dict = defaultdict(list)
    key, skip = None, False
    with open(path) as f:
        for line in f:
            if line.startswith("#") and not line.startswith("###"):
                skip = bool(re.match(r"^## .*\bbase\b", line))  # an older build's A/B round
            m = CELL.match(line)
            if skip:
                continue
            if m:
                kind = "shm" if m.group(1).startswith("/dev/shm") else "disk"
                key = (kind, m.group(2), m.group(3) == "verify")
                continue
            m = RATIO.search(line)
            if m and key:
                cells[key].append((float(m.group(1)), float(m.group(2))))
                key = None
    return cells


def store_plot() -> None:
    machines = [
        (
            "16-core GPU host",
            [
                os.path.join(GPU, "store-vs-fio-h100-host-r10-waitany.txt"),
                os.path.join(GPU, "store-vs-fio-h100-host-r10-waitany-2.txt"),
            ],
        ),
        ("2-core VM", [os.path.join(BENCH, "results", "2core-store-vs-fio-r10-waitany.txt")]),
    ]
    order = [(k, s, v) for k in ("disk", "shm") for s in ("2M", "8M", "32M") for v in (False, True)]
    fig, axes = plt.subplots(2, 1, figsize=(10, 6.5), sharex=True)
    for mi, (name, paths) in enumerate(machines):
        cells: dict = defaultdict(list)
        for p in paths:
            for k, v in parse_grid(p).items():
                cells[k] += v
        for ai in range(2):
            xs, ys = [], []
            for i, key in enumerate(order):
                for pair in cells.get(key, []):
                    xs.append(i + (mi - 0.5) * 0.3)
                    ys.append(pair[ai])
            axes[ai].scatter(xs, ys, s=14, alpha=0.7, label=name if ai == 0 else None)
    for ai, what in enumerate(("store", "load")):
        axes[ai].axhline(1.0, color="grey", lw=0.8)
        axes[ai].axhline(0.9, color="red", lw=0.6, ls="--")
        if what == "load":
            axes[ai].axhline(0.85, color="orange", lw=0.6, ls=":")
        axes[ai].set_ylabel(f"{what}: kvtier / fio")
        axes[ai].set_ylim(0.6, 1.3)
    axes[0].legend(fontsize=8, loc="lower right")
    axes[1].set_xticks(
        range(len(order)),
        [f"{k}\n{s}\n{'verify' if v else 'no verify'}" for k, s, v in order],
        fontsize=7,
    )
    axes[0].set_title(
        "Store vs fio, ratio of medians per cell (10 alternating pairs each; every "
        "grid run with the WaitAny build is a dot).\nTargets: 0.90 (red), verified "
        "load 0.85 (orange)",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(os.path.join(OUT, "store_vs_fio.png"), dpi=120)
    plt.close(fig)


def parse_tier(path: str) -> dict:
    """dir -> tier -> {store, load1, load20} GB/s."""
    out: dict = {}
    d = None
    with open(path) as f:
        for line in f:
            if line.startswith("/"):
                d = "shm" if line.startswith("/dev/shm") else "disk"
                out[d] = {}
            m = re.match(r"^\s+(builtin|kvtier)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)", line)
            if m and d:
                out[d][m.group(1)] = dict(
                    zip(("store", "load1", "load20"), map(float, m.groups()[1:]))
                )
    return out


def tier_plot() -> None:
    runs = [
        ("70B TP8, 10 MiB chunks", "vllm-tier-70b-h100-host.txt"),
        ("8B, 32 MiB chunks", "vllm-tier-8b-h100-host-r3.txt"),
    ]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.3), sharey=True)
    for ax, (name, fn) in zip(axes, runs):
        t = parse_tier(os.path.join(GPU, fn))
        labels, b, k = [], [], []
        for d in ("shm", "disk"):
            for what, lab in (
                ("store", "store"),
                ("load1", "1 request"),
                ("load20", "20 concurrent"),
            ):
                labels.append(f"{'/dev/shm' if d == 'shm' else 'disk'}\n{lab}")
                b.append(t[d]["builtin"][what])
                k.append(t[d]["kvtier"][what])
        x = range(len(labels))
        ax.bar([i - 0.2 for i in x], b, width=0.4, label="vLLM built-in fs tier")
        ax.bar([i + 0.2 for i in x], k, width=0.4, label="kvtier tier (verified)")
        for i in x:
            ax.text(i + 0.2, k[i] + 0.4, f"{k[i] / b[i]:.2f}x", ha="center", fontsize=7)
        ax.set_xticks(list(x), labels, fontsize=7)
        ax.set_title(f"{name} ({fn})", fontsize=9)
    axes[0].set_ylabel("GB/s")
    axes[0].legend(fontsize=8)
    fig.suptitle(
        "kvtier's vLLM tier vs vLLM's built-in fs tier, 16-core H100 host "
        "(labels: kvtier / built-in)",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(os.path.join(OUT, "vllm_tier_vs_builtin.png"), dpi=120)
    plt.close(fig)


def main() -> None:
    os.makedirs(OUT, exist_ok=True)
    replay_plots()
    scale_plot()
    model_check_plot()
    store_plot()
    tier_plot()
    print("\n".join(sorted(os.path.join(OUT, f) for f in os.listdir(OUT))))


if __name__ == "__main__":
    main()
