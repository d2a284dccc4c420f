"""One of several clients writing one session through a server at once, with
the real Python dreamlake 0.2.4 client: appends its points to the shared
track "loss" (in batches of varying size and one at a time), to a track of
its own, logs and sets parameters, then prints "ok".

Usage: python remote_writer.py <url> <user name> <workspace> <session> <client number> <points>
"""
import sys

from dreamlake import Session

url, user, workspace, name, client, points = sys.argv[1:7]
client, points = int(client), int(points)
with Session(name=name, workspace=workspace, remote=url, user_name=user) as s:
    s.parameters().set(shared=client, **{f"client_{client}": client})
    i = 0
    size = 1
    while i < points:
        n = min(size, points - i)
        if n == 1:
            s.track("loss").append(client=client, i=i)
        else:
            s.track("loss").append_batch([{"client": client, "i": i + k} for k in range(n)])
        s.track(f"own-{client}").append(i=i)
        s.log(f"client {client} at {i}", metadata={"client": client, "i": i})
        i += n
        size = size * 3 % 97 + 1
print("ok")
