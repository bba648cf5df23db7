"""Formats `kvtier bench --json` (stdin) as the lines bench/RESULTS.md quotes:
medians and their ratio, per-pair ratio median and range, and by order."""

import json
import sys

r = json.load(sys.stdin)
for run in r["runs"]:
    print(
        "  %-10s %-8s store %5.2f fio-w %5.2f ratio %4.2f | load %5.2f fio-r %5.2f ratio %4.2f"
        % (
            run["backend"],
            run["mode"],
            run["store_GBps"],
            run.get("fio_write_GBps", 0),
            run.get("store_vs_fio", 0),
            run["load_GBps"],
            run.get("fio_read_GBps", 0),
            run.get("load_vs_fio", 0),
        )
    )
    sp, lp = run.get("store_vs_fio_paired"), run.get("load_vs_fio_paired")
    if sp and lp:
        print(
            "  %-19s per pair: store %4.2f (%4.2f-%4.2f) | load %4.2f (%4.2f-%4.2f)"
            % ("", sp["median"], sp["min"], sp["max"], lp["median"], lp["min"], lp["max"])
        )
    o = run.get("paired_by_order")
    if o:
        print(
            "  %-19s by order (kvtier first / fio first): store %4.2f / %4.2f | load %4.2f / %4.2f"
            % (
                "",
                o["store_kvtier_first"],
                o["store_fio_first"],
                o["load_kvtier_first"],
                o["load_fio_first"],
            )
        )
print("  memcpy %.2f GB/s" % r["memcpy_GBps"])
