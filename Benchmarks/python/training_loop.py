"""A real PyTorch training loop on the CPU, timed without logging and with each tracker logging 10
scalars a step, side by side in one run: the overhead each adds to training.

The loop: an MLP (256-128-10) on a fixed random batch of 64, SGD, `steps` steps; each step computes
its 10 scalars (the loss and nine figures derived from it) whether or not anything logs them, so the
only difference between runs is the logging. The run without logging and the one with
dreamlake_engine alternate `repeat` times (the machine is noisy; the medians are compared). Beside
the whole runs, the time spent inside the logging calls is summed within the loop ("in calls", as a
share of the loop without logging, less an empty call's cost): the logging's own cost, which whole
runs on this machine blur (they differ from one another by more than the 1% asked for).

    training_loop.py [--steps N] [--repeat K] [--peers engine-per-scalar,dreamlake,tensorboardX,wandb,mlflow,trackio]

dreamlake_engine logs a step's scalars as the dict peers take (`session.log_metrics(scalars, step=)`,
as W&B's `run.log`, MLflow's `log_metrics`, trackio's `log`); "engine, a call a scalar" is the same
through `track(name).append(value=, step=)` per scalar, as tensorboardX and dreamlake 0.2.4 take them.
"""
import argparse
import json
import os
import shutil
import statistics
import tempfile
import time

import torch

torch.set_num_threads(1)


def make():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(256, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x = torch.randn(64, 256)
    y = torch.randint(0, 10, (64,))
    return model, opt, x, y


# Nanoseconds spent inside the logging calls of the last train(): the logging's own cost, measured
# within the loop, which the noise of whole runs (their spread is printed) does not blur.
in_logging = [0]


def train(steps, log):
    model, opt, x, y = make()
    clock = time.perf_counter_ns
    inside = 0
    start = time.perf_counter()
    for step in range(steps):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        value = loss.item()
        scalars = {f"metric_{k}": value * (k + 1) for k in range(10)}
        before = clock()
        log(step, scalars)
        inside += clock() - before
    seconds = time.perf_counter() - start
    in_logging[0] = inside
    return seconds


def nothing(steps):
    return train(steps, lambda step, scalars: None)


def engine(steps):
    import dreamlake_engine

    root = tempfile.mkdtemp()
    with dreamlake_engine.Session(name="loop", workspace="bench", local_path=root) as s:
        seconds = train(steps, lambda step, scalars: s.log_metrics(scalars, step=step))
    shutil.rmtree(root)
    return seconds


def engine_per_scalar(steps):
    import dreamlake_engine

    root = tempfile.mkdtemp()
    with dreamlake_engine.Session(name="loop", workspace="bench", local_path=root) as s:
        tracks = {}

        def log(step, scalars):
            for name, v in scalars.items():
                t = tracks.get(name)
                if t is None:
                    t = tracks[name] = s.track(name)
                t.append(value=v, step=step)

        seconds = train(steps, log)
    shutil.rmtree(root)
    return seconds


def python_dreamlake(steps):
    import dreamlake

    root = tempfile.mkdtemp()
    with dreamlake.Session(name="loop", workspace="bench", local_path=root) as s:
        seconds = train(steps, lambda step, scalars: [s.track(n).append(value=v, step=step) for n, v in scalars.items()])
    shutil.rmtree(root)
    return seconds


def tensorboardx(steps):
    from tensorboardX import SummaryWriter

    root = tempfile.mkdtemp()
    w = SummaryWriter(root)
    seconds = train(steps, lambda step, scalars: [w.add_scalar(n, v, step) for n, v in scalars.items()])
    w.close()
    shutil.rmtree(root)
    return seconds


def wandb_offline(steps):
    import wandb

    root = tempfile.mkdtemp()
    run = wandb.init(project="bench", mode="offline", dir=root, settings=wandb.Settings(silent=True))
    seconds = train(steps, lambda step, scalars: run.log(scalars, step=step))
    run.finish()
    shutil.rmtree(root)
    return seconds


def mlflow_files(steps):
    import mlflow

    root = tempfile.mkdtemp()
    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"  # the file store is what the issue compares; MLflow 3 asks for this
    mlflow.set_tracking_uri("file://" + root)
    mlflow.set_experiment("bench")
    with mlflow.start_run():
        seconds = train(steps, lambda step, scalars: mlflow.log_metrics(scalars, step=step))
    shutil.rmtree(root)
    return seconds


def trackio_local(steps):
    import trackio

    root = tempfile.mkdtemp()
    os.environ["TRACKIO_DIR"] = root
    trackio.init(project="bench")
    seconds = train(steps, lambda step, scalars: trackio.log(scalars, step=step))
    trackio.finish()
    shutil.rmtree(root)
    return seconds


PEERS = {"engine-per-scalar": ("engine, a call a scalar", engine_per_scalar), "dreamlake": ("dreamlake 0.2.4", python_dreamlake), "tensorboardX": ("tensorboardX", tensorboardx),
         "wandb": ("W&B offline", wandb_offline), "mlflow": ("MLflow file store", mlflow_files), "trackio": ("trackio", trackio_local)}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--peers", default="engine-per-scalar,dreamlake,tensorboardX,wandb,mlflow,trackio")
    args = parser.parse_args()
    nothing(200)  # warm up
    base, ours, ours_inside, empty_inside = [], [], [], []
    for _ in range(args.repeat):
        base.append(nothing(args.steps))
        empty_inside.append(in_logging[0])
        ours.append(engine(args.steps))
        ours_inside.append(in_logging[0])
    # Each row: median seconds, and the share of the loop spent inside the logging calls, less what
    # calling an empty function costs there.
    empty = statistics.median(empty_inside)
    rows = [("no logging", statistics.median(base), 0.0),
            ("dreamlake_engine", statistics.median(ours), (statistics.median(ours_inside) - empty) / 1e9)]
    for key in filter(None, args.peers.split(",")):
        name, run = PEERS[key]
        try:
            seconds = run(args.steps)
            rows.append((name, seconds, (in_logging[0] - empty) / 1e9))
        except Exception as e:  # a peer that does not run here is said, and the others go on
            print(f"{name}: did not run: {type(e).__name__}: {e}")
    reference = rows[0][1]
    print(json.dumps({"steps": args.steps, "scalars_per_step": 10, "runs_without": base, "runs_with_engine": ours,
                      "ns_in_engine_calls": ours_inside, "ns_in_empty_calls": empty_inside}))
    spread = 100 * (max(base) / min(base) - 1)
    print(f"runs without logging differ by up to {spread:.1f}% from one another; min-to-min, dreamlake_engine adds "
          f"{100 * (min(ours) / min(base) - 1):.1f}%")
    print(f"{'':<20} {'seconds':>9} {'overhead':>9} {'in calls':>9} {'µs/step':>8}")
    for name, seconds, inside in rows:
        print(f"{name:<20} {seconds:>9.3f} {100 * (seconds / reference - 1):>8.1f}% {100 * inside / reference:>8.2f}% "
              f"{1e6 * inside / args.steps:>8.2f}")


if __name__ == "__main__":
    main()
