"""Reads a session through the real Python dreamlake 0.2.4 API and prints, as
JSON, everything it gets back, for the interop tests to check against what
they wrote.

Usage: python read_session.py <local_path> <workspace> <name> <track names, comma-separated> <download folder>
"""
import hashlib
import json
import os
import sys

from dreamlake import Session

root, workspace, name, track_names, downloads = sys.argv[1:6]
out = {}
with Session(name=name, workspace=workspace, local_path=root) as s:
    out["params"] = s.parameters().get()
    out["paramsNested"] = s.parameters().get(flatten=False)
    out["listed"] = sorted(t["name"] for t in s.track("any").list_all())
    out["tracks"] = {}
    for track in [t for t in track_names.split(",") if t]:
        page = s.track(track).read(start_index=0, limit=1_000_000)
        out["tracks"][track] = {"stats": s.track(track).stats(), "points": page["data"], "hasMore": page["hasMore"]}
    out["files"] = s.files().list()
    out["downloads"] = {}
    os.makedirs(downloads, exist_ok=True)
    for f in out["files"]:
        dest = os.path.join(downloads, f["id"] + "-" + f["filename"])
        s.file(file_id=f["id"], dest_path=dest).download()  # checks the SHA-256 itself
        with open(dest, "rb") as fh:
            out["downloads"][f["id"]] = hashlib.sha256(fh.read()).hexdigest()
logs = os.path.join(root, workspace, name, "logs", "logs.jsonl")
out["logs"] = [json.loads(line) for line in open(logs)] if os.path.exists(logs) else []
print(json.dumps(out))
