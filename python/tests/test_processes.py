"""Python writers as processes: killed with kill -9 (nothing it was told is durable is lost), and the
ranks of a job (RANK set, as torchrun sets it) writing one session at once, each its own writer."""
import os
import signal
import subprocess
import sys
import textwrap

import dreamlake_engine as dl
from conftest import command

WRITER = textwrap.dedent(
    """
    import sys
    import dreamlake_engine as dl
    s = dl.Session(name="killed", workspace="ws", local_path=sys.argv[1])
    s.open()
    t = s.track("loss")
    i = 0
    while True:
        for _ in range(10_000):
            t.append(value=float(i), step=i)
            i += 1
        s.log(f"at {i}")
        s.flush()
        print(i, flush=True)  # everything up to i is durable
    """
)


def test_a_python_writer_killed_with_kill_9_loses_nothing_it_flushed(root):
    durable = 0
    for round in range(3):
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(root)], stdout=subprocess.PIPE, text=True)
        start = durable
        for line in writer.stdout:
            durable = start + int(line)
            if int(line) >= 30_000 * (round + 1):
                break
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait()
        with dl.Session(name="killed", workspace="ws", local_path=str(root)) as s:
            count = int(s.track("loss").stats()["totalDataPoints"])
            assert count >= durable, f"round {round}: {count} points, {durable} were flushed"
            # The next run goes on from what is there: indexes stay dense.
            durable = count
    command("verify", "--root", str(root))


RANK = textwrap.dedent(
    """
    import os, sys
    import dreamlake_engine as dl
    rank = int(os.environ["RANK"])
    with dl.Session(name="ddp", workspace="ws", local_path=sys.argv[1]) as s:
        t = s.track("loss")
        for i in range(50_000):
            t.append(value=float(rank), step=i)
        s.log(f"rank {rank} done")
    """
)


def test_the_ranks_of_a_job_write_one_session_each_as_its_own_writer(root):
    ranks = 4
    procs = [
        subprocess.Popen([sys.executable, "-c", RANK, str(root)], env={**os.environ, "RANK": str(r), "WORLD_SIZE": str(ranks)})
        for r in range(ranks)
    ]
    assert [p.wait() for p in procs] == [0] * ranks
    with dl.Session(name="ddp", workspace="ws", local_path=str(root)) as s:
        assert s.track("loss").stats()["totalDataPoints"] == str(ranks * 50_000)
    for r in range(ranks):
        out = command("cat", "ws/ddp", "--track", "loss", "--rank", str(r), "--root", str(root), "--limit", "3")
        assert f'"value": {float(r)}' in out, out
    command("verify", "--root", str(root))
