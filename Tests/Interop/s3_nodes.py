"""The real Python dreamlake 0.2.4 client against one of several `dreamlake serve`
nodes over one S3 root.

    python s3_nodes.py write <url> <workspace> <session> <first step> <count>
        appends points {"value": i, "step": i} to track "loss", then prints "ok"
    python s3_nodes.py read <url> <workspace> <session>
        prints the track's count and the steps of the points at its middle

A refused request prints "refused <status> <the server's message>" (and exits 0).
"""
import sys

import httpx
from dreamlake import Session

mode, url, workspace, name = sys.argv[1:5]
try:
    with Session(name=name, workspace=workspace, remote=url, user_name="alice") as s:
        loss = s.track("loss")
        if mode == "write":
            first, count = int(sys.argv[5]), int(sys.argv[6])
            for at in range(first, first + count, 1000):
                loss.append_batch([{"value": float(i), "step": i} for i in range(at, min(at + 1000, first + count))])
            print("ok")
        else:
            total = int(loss.stats()["totalDataPoints"])
            middle = loss.read(start_index=total // 2, limit=3)["data"] if total else []
            print(total, [p["data"]["step"] for p in middle])
except httpx.HTTPStatusError as e:
    print("refused", e.response.status_code, e.response.text)
