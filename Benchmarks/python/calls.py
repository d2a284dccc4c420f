"""Per-call cost from CPython, side by side in one run: dreamlake_engine (this repository's Python
package), Python dreamlake 0.2.4 and tensorboardX, on the reference workload (one track, point i =
{"value": loss(i), "step": i}, one call per point), and a log entry per call.

For dreamlake_engine it also times every call of a long run on its own (time.perf_counter_ns around
each), for the p99 and the longest stall. Prints one JSON object per system and operation, then a
table. Run it through scripts/python-bench, which makes the environment.

    calls.py [--points N] [--timed N]
"""
import argparse
import json
import math
import shutil
import tempfile
import time


def loss(i):
    return 2.0 / (1.0 + i * 1e-4) + 0.01 * math.sin(i * 0.37)


rows = []


def report(system, op, calls, seconds, **extra):
    row = {"system": system, "op": op, "calls": calls, "seconds": round(seconds, 4),
           "calls_per_second": round(calls / seconds, 1), **extra}
    rows.append(row)
    print(json.dumps(row), flush=True)


def engine(points, timed):
    import dreamlake_engine

    root = tempfile.mkdtemp(prefix="bench-engine-")
    values = [loss(i) for i in range(points)]
    with dreamlake_engine.Session(name="calls", workspace="bench", local_path=root) as s:
        t = s.track("loss")
        append = t.append
        start = time.perf_counter()
        for i in range(points):
            append(value=values[i], step=i)
        report("dreamlake_engine", "track.append(value=, step=)", points, time.perf_counter() - start)
        start = time.perf_counter()
        for i in range(points // 4):
            s.log("step done")
        report("dreamlake_engine", "session.log(message)", points // 4, time.perf_counter() - start)
        # A step's ten scalars in one call, as W&B's run.log(dict) takes them.
        steps = points // 10
        metrics = {f"metric_{k}": 0.0 for k in range(10)}
        start = time.perf_counter()
        for i in range(steps):
            metrics["metric_0"] = values[i]
            s.log_metrics(metrics, step=i)
        seconds = time.perf_counter() - start
        report("dreamlake_engine", "session.log_metrics(10 scalars, step=)", steps, seconds,
               points_per_second=round(steps * 10 / seconds, 1))
        # NumPy arrays, a million points a call.
        import numpy as np

        batch = 1_000_000
        arrays = np.array([loss(i) for i in range(batch)]), np.arange(batch, dtype=np.int64)
        calls = max(1, points * 10 // batch)
        start = time.perf_counter()
        for _ in range(calls):
            t.append_arrays(value=arrays[0], step=arrays[1])
        seconds = time.perf_counter() - start
        report("dreamlake_engine", "track.append_arrays(value=, step=)", calls, seconds,
               points_per_second=round(calls * batch / seconds, 1))
        # Every call timed on its own: the distribution, and the longest.
        clock = time.perf_counter_ns
        lat = [0] * timed
        for i in range(timed):
            a = clock()
            append(value=0.5, step=i)
            lat[i] = clock() - a
        lat.sort()
        report("dreamlake_engine", "track.append, each call timed", timed, sum(lat) / 1e9,
               p50_ns=lat[timed // 2], p99_ns=lat[int(timed * 0.99)], p999_ns=lat[int(timed * 0.999)], max_ns=lat[-1],
               over_1ms=sum(1 for x in lat if x > 1_000_000))
    shutil.rmtree(root)


def python_dreamlake(points):
    import dreamlake

    root = tempfile.mkdtemp(prefix="bench-dreamlake-")
    n = min(points, 20_000)
    with dreamlake.Session(name="calls", workspace="bench", local_path=root) as s:
        start = time.perf_counter()
        for i in range(n):
            s.track("loss").append(value=loss(i), step=i)
        report("dreamlake 0.2.4", "track.append(value=, step=)", n, time.perf_counter() - start)
        start = time.perf_counter()
        for i in range(n // 4):
            s.log("step done")
        report("dreamlake 0.2.4", "session.log(message)", n // 4, time.perf_counter() - start)
    shutil.rmtree(root)


def tensorboardx(points):
    from tensorboardX import SummaryWriter

    root = tempfile.mkdtemp(prefix="bench-tbx-")
    n = min(points, 200_000)
    w = SummaryWriter(root)
    start = time.perf_counter()
    for i in range(n):
        w.add_scalar("loss", loss(i), i)
    report("tensorboardX 2.6.5", "add_scalar(tag, value, step)", n, time.perf_counter() - start)
    w.close()
    shutil.rmtree(root)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--points", type=int, default=2_000_000)
    parser.add_argument("--timed", type=int, default=10_000_000)
    args = parser.parse_args()
    engine(args.points, args.timed)
    python_dreamlake(args.points)
    tensorboardx(args.points)
    print()
    print(f"{'system':<20} {'call':<34} {'calls':>10} {'calls/s':>12}  p99 / max")
    for r in rows:
        tail = f"  {r['p99_ns']} ns / {r['max_ns'] / 1e6:.2f} ms, {r['over_1ms']} over 1 ms" if "p99_ns" in r else ""
        if "points_per_second" in r:
            tail = f"  {r['points_per_second']:,.0f} points/s"
        print(f"{r['system']:<20} {r['op']:<34} {r['calls']:>10} {r['calls_per_second']:>12,.0f}{tail}")


if __name__ == "__main__":
    main()
