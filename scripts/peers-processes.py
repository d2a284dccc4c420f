#!/usr/bin/env python3
# Python dreamlake 0.2.4 beside `dreamlake bench ingest --processes N`: N processes append to one session at once
# (local mode), each POINTS points one call at a time, into its own track or one shared track.
# Usage (in the peers venv, ../shared/peers/run.sh makes it): python scripts/peers-processes.py POINTS N own|shared
import math, multiprocessing as mp, os, sys, tempfile, time
from dreamlake import Session
def loss(i): return 2.0 / (1.0 + i * 1e-4) + 0.01 * math.sin(i * 0.37)
def work(args):
    root, k, n, shared = args
    with Session(name="bench", workspace="peers", local_path=root) as s:
        t = s.track("loss" if shared else f"loss-{k}")
        start = time.perf_counter()
        for i in range(n): t.append(value=loss(i), step=i)
        return n / (time.perf_counter() - start)
if __name__ == "__main__":
    n = int(sys.argv[1]); procs = int(sys.argv[2]); shared = sys.argv[3] == "shared"
    root = tempfile.mkdtemp()
    with Session(name="bench", workspace="peers", local_path=root) as s: pass
    start = time.perf_counter()
    with mp.Pool(procs) as pool: rates = pool.map(work, [(root, k, n, shared) for k in range(procs)])
    wall = time.perf_counter() - start
    print(f"python dreamlake 0.2.4, {procs} processes x {n} points ({'one track' if shared else 'own tracks'}): {procs*n/wall:.0f} points/s in all, per process {min(rates):.0f}..{max(rates):.0f}")
