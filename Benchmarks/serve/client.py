"""The real Python client's per-call rate against a server: N track.append
calls in remote mode, timed, after a warm-up. Prints JSON."""
import json
import sys
import time

from dreamlake import Session

url, token, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
with Session(name="python-client", workspace="bench", remote=url, api_key=token) as s:
    t = s.track("loss")
    for i in range(200):
        t.append(value=0.5, step=i)
    start = time.perf_counter()
    for i in range(n):
        t.append(value=0.5, step=i)
    elapsed = time.perf_counter() - start
    stored = int(t.stats()["totalDataPoints"])
print(json.dumps({"calls": n, "seconds": elapsed, "perSecond": n / elapsed, "stored": stored}))
