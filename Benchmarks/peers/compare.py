"""Runs the reference workload through the peers and through `dreamlake
bench`, one after the other on one machine, and prints a table of points per
second and bytes per point with our ratio to each peer.

Workload: one session, one track "loss", point i = {"value": v(i), "step": i}
with v(i) = 2.0 / (1.0 + i * 1e-4) + 0.01 * sin(i * 0.37), appended one call
at a time (and, for Python dreamlake, also as one append_batch); logs are
log("step i", level="info", metadata={"step": i}).

Usage: compare.py <path of the dreamlake command> <points>
"""

import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

PER_CALL_CAP = 20000  # Python dreamlake rewrites a metadata file per call: ~3,000 calls a second


def value(i):
    return 2.0 / (1.0 + i * 1e-4) + 0.01 * math.sin(i * 0.37)


def size_of(root):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(root) for f in files)


def timed(prefix, body):
    """Runs body(root) in a fresh folder; returns (seconds, bytes the folder holds afterwards)."""
    root = tempfile.mkdtemp(prefix=prefix)
    try:
        seconds = body(root)
        return seconds, size_of(root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def python_dreamlake_append(n):
    from dreamlake import Session

    def run(root):
        with Session(name="bench", workspace="peers", local_path=root) as s:
            track = s.track("loss")
            start = time.perf_counter()
            for i in range(n):
                track.append(value=value(i), step=i)
            return time.perf_counter() - start
    return timed("cmp-dl-append-", run)


def python_dreamlake_batch(n):
    from dreamlake import Session

    def run(root):
        points = [{"value": value(i), "step": i} for i in range(n)]
        with Session(name="bench", workspace="peers", local_path=root) as s:
            start = time.perf_counter()
            s.track("loss").append_batch(points)
            return time.perf_counter() - start
    return timed("cmp-dl-batch-", run)


def python_dreamlake_log(n):
    from dreamlake import Session

    def run(root):
        with Session(name="bench", workspace="peers", local_path=root) as s:
            start = time.perf_counter()
            for i in range(n):
                s.log(f"step {i}", level="info", metadata={"step": i})
            return time.perf_counter() - start
    return timed("cmp-dl-log-", run)


def tensorboardx_add_scalar(n):
    from tensorboardX import SummaryWriter

    def run(root):
        writer = SummaryWriter(root, max_queue=1000, flush_secs=120)
        start = time.perf_counter()
        for i in range(n):
            writer.add_scalar("loss", value(i), i)
        writer.close()  # what add_scalar queued is written here: part of its cost
        return time.perf_counter() - start
    return timed("cmp-tbx-", run)


def ours(command, args):
    root = tempfile.mkdtemp(prefix="cmp-ours-")
    try:
        out = subprocess.run([command, "bench"] + args + ["--root", root, "--json"],
                             check=True, capture_output=True, text=True).stdout
        return json.loads(out.strip().splitlines()[-1])
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main():
    command, n = sys.argv[1], int(sys.argv[2])
    small = min(n, PER_CALL_CAP)
    rows = []  # (system, operation, count, per second, bytes per point or None)

    s, b = python_dreamlake_append(small)
    rows.append(("Python dreamlake 0.2.4", "track.append, per call", small, small / s, b / small))
    s, b = python_dreamlake_batch(n)
    rows.append(("Python dreamlake 0.2.4", "track.append_batch", n, n / s, b / n))
    s, b = python_dreamlake_log(small)
    rows.append(("Python dreamlake 0.2.4", "log, per call", small, small / s, b / small))
    s, b = tensorboardx_add_scalar(n)
    rows.append(("tensorboardX", "add_scalar, per call", n, n / s, b / n))

    # The rate from a run with no clock read of the benchmark's own between
    # appends (as Python's rates are measured); the latency from a second run
    # that times each append.
    ingest = ours(command, ["ingest", "--points", str(n)])
    timed = ours(command, ["ingest", "--points", str(n), "--latency"])
    logs = ours(command, ["logs", "--count", str(n)])
    ours_points = ingest["points_per_second"]
    ours_logs = logs["entries_per_second"]

    print(f"Machine: {platform.node()}, {os.cpu_count()} cores, {platform.platform()}, Python {platform.python_version()}")
    print(f"Workload: point i = {{\"value\": 2.0/(1.0 + i*1e-4) + 0.01*sin(i*0.37), \"step\": i}}, {n} points "
          f"(Python per-call operations: {small})\n")
    print("| system | operation | count | per second | bytes a point | dreamlake-swift's ratio |")
    print("|---|---|---|---|---|---|")
    for system, op, count, rate, bpp in rows:
        mine = ours_logs if op.startswith("log") else ours_points
        print(f"| {system} | {op} | {count:,} | {rate:,.0f} | {bpp:.1f} | {mine / rate:,.0f}x |")
    print(f"| dreamlake-swift | `dreamlake bench ingest`, track.append(value:step:), per call | {n:,} | "
          f"{ours_points:,.0f} | {ingest['bytes_per_point']:.2f} | 1x |")
    print(f"| dreamlake-swift | `dreamlake bench logs`, log(_:level:metadata:), per call | {n:,} | "
          f"{ours_logs:,.0f} | {logs['bytes_per_entry']:.2f} | 1x |")
    print(f"\nAppend latency (dreamlake-swift, default durability, `bench ingest --latency`, {timed['points_per_second']:,.0f} "
          f"points/s with each append timed): p50 {timed['p50_ns']} ns, p99 {timed['p99_ns']} ns, "
          f"p999 {timed['p999_ns']} ns, max {timed['max_ns']} ns")


if __name__ == "__main__":
    main()
