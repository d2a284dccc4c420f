"""Writes the demo's train_loss (ReferenceWorkload.value: the same numbers
`dreamlake demo` appends) as a TensorBoard scalar log, through tensorboardX,
for scripts/viewer-targets' side-by-side with TensorBoard.

Usage: python tensorboard_log.py <log folder> <points>
"""
import math
import sys
import time

from tensorboardX import SummaryWriter

logdir, n = sys.argv[1], int(sys.argv[2])
t0 = time.time()
writer = SummaryWriter(logdir, flush_secs=3600, max_queue=100000)
for i in range(n):
    x = float(i)
    writer.add_scalar("train_loss", 2.0 / (1.0 + x * 1e-4) + 0.01 * math.sin(x * 0.37), i)
writer.close()
print(f"tensorboard_log: {n} scalars in {time.time() - t0:.1f} s", file=sys.stderr)
