"""How many metadata lookups a FUSE mount serves at once: a thread sweep.

Files are made through WRITE_DIR (DIRS directories of FILES_PER_DIR empty
files); then, for each mount given and each thread count, THREADS threads
each hold the directories open and `fstatat(dirfd, name)` their share of the
names in a loop for SECONDS. On MooseFS a file's entry has no timeout in
the kernel (mfsentrycacheto 0), so every call is one LOOKUP round trip to
the master, cached or not. Reported: lookups/s, the mean time of one
lookup, and the most threads the mount's daemon ran meanwhile (its
/proc/PID/task), which shows whether the daemon, not the caller, is the
bound. With `--master`, the master's own LOOKUP counter of the mount
checks that one call is one round trip.

  python bench/dfs_metadata_sweep.py WRITE_DIR --mounts M1[:PID] M2[:PID] \\
      [--threads 1 2 4 8 16 32 64 128] [--seconds 3] [--master HOST:PORT]

bench/dfs_metadata_sweep.sh brings the cluster up and runs this.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from mfs_counters import master_lookups


def make_tree(root: str, dirs: int, per_dir: int) -> None:
    def one(d: int) -> None:
        path = os.path.join(root, f"d{d:03d}")
        os.makedirs(path, exist_ok=True)
        for i in range(per_dir):
            with open(os.path.join(path, f"f{i:05d}.kv"), "wb"):
                pass

    with ThreadPoolExecutor(32) as ex:
        list(ex.map(one, range(dirs)))


def sweep_point(
    root: str,
    names: list[tuple[int, str]],
    dirs: int,
    threads: int,
    seconds: float,
    pid: int | None,
) -> dict:
    fds = [
        os.open(os.path.join(root, f"d{d:03d}"), os.O_RDONLY | os.O_DIRECTORY) for d in range(dirs)
    ]
    counts = [0] * threads
    errors = [0] * threads
    stop = threading.Event()
    peak = [0]

    def worker(t: int) -> None:
        mine = names[t::threads]
        n = e = 0
        while not stop.is_set():
            for d, name in mine:
                try:
                    os.stat(name, dir_fd=fds[d], follow_symlinks=False)
                except OSError:
                    e += 1
                n += 1
                if n % 64 == 0 and stop.is_set():
                    break
        counts[t] = n
        errors[t] = e

    def watch() -> None:
        while not stop.is_set():
            if pid is not None:
                try:
                    peak[0] = max(peak[0], len(os.listdir(f"/proc/{pid}/task")))
                except OSError:
                    pass
            time.sleep(0.05)

    ts = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    w = threading.Thread(target=watch)
    t0 = time.perf_counter()
    for t in ts:
        t.start()
    w.start()
    time.sleep(seconds)
    stop.set()
    for t in ts:
        t.join()
    w.join()
    dt = time.perf_counter() - t0
    for fd in fds:
        os.close(fd)
    total = sum(counts)
    return {
        "threads": threads,
        "lookups": total,
        "errors": sum(errors),
        "seconds": round(dt, 3),
        "lookups_per_s": round(total / dt),
        "mean_ms": round(1000 * dt * threads / max(total, 1), 3),
        "daemon_threads_peak": peak[0] if pid is not None else None,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("write_dir")
    p.add_argument(
        "--mounts",
        nargs="+",
        required=True,
        help="the same directory through other mounts, each DIR or DIR:PID "
        "(PID: that mount's daemon)",
    )
    p.add_argument("--threads", nargs="+", type=int, default=[1, 2, 4, 8, 16, 32, 64, 128])
    p.add_argument("--dirs", type=int, default=64)
    p.add_argument("--files-per-dir", type=int, default=64)
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--rounds", type=int, default=2, help="sweeps per mount, alternating mounts")
    p.add_argument("--master", default="", help="HOST:PORT: check lookups against its counters")
    args = p.parse_args()

    t = time.perf_counter()
    make_tree(args.write_dir, args.dirs, args.files_per_dir)
    print(
        json.dumps(
            {"tree": args.dirs * args.files_per_dir, "made_s": round(time.perf_counter() - t, 2)}
        ),
        flush=True,
    )
    names = [(d, f"f{i:05d}.kv") for i in range(args.files_per_dir) for d in range(args.dirs)]
    mounts = []
    for m in args.mounts:
        path, _, pid = m.partition(":")
        mounts.append((path, int(pid) if pid else None))
    for r in range(1, args.rounds + 1):
        for path, pid in mounts:
            for threads in args.threads:
                before = master_lookups(args.master, path) if args.master else None
                row = sweep_point(path, names, args.dirs, threads, args.seconds, pid)
                if before is not None:
                    after = master_lookups(args.master, path)
                    if after is not None and after >= before:
                        row["master_lookups_per_call"] = round((after - before) / row["lookups"], 3)
                row.update(
                    round=r, mount=os.path.basename(os.path.dirname(path)), load=os.getloadavg()[0]
                )
                print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
