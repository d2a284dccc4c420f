"""Runs every call of Python dreamlake 0.2.4's API, in the seed's three forms
(decorator, with block, direct control), against a server (remote mode) or a
folder (local mode), checks what each call returns, and prints the results as
JSON. Run in both modes with the same arguments, the two stores should hold
the same sessions: the interop tests export ours and compare.

Usage:
  python remote_session.py remote <url> user:<name> | token:<token>  <workspace> <scratch folder>
  python remote_session.py local  <folder> -                         <workspace> <scratch folder>
"""
import hashlib
import json
import os
import sys

from dreamlake import Session, dreamlake_session

mode, where, auth, workspace, scratch = sys.argv[1:6]
os.makedirs(scratch, exist_ok=True)


def options():
    if mode == "local":
        return {"local_path": where}
    kind, _, value = auth.partition(":")
    return {"remote": where, "user_name": value} if kind == "user" else {"remote": where, "api_key": value}


def check(condition, what):
    if not condition:
        raise AssertionError(what)


out = {}

# The decorator form.
@dreamlake_session(name="decorated", workspace=workspace, description="the decorator form", tags=["seed"], **options())
def train(session):
    session.log("Training started")
    session.parameters().set(learning_rate=0.001)
    for epoch in range(3):
        session.track("loss").append(value=1.0 / (epoch + 1), epoch=epoch)
    session.log("Training complete")


train()

# The with-block form: every call of the client's API.
with Session(name="everything", workspace=workspace, description="every call", tags=["a", "b"],
             folder="/experiments/2026", metadata={"owner": "interop", "gpus": 2}, **options()) as s:
    for level in ["debug", "info", "warn", "error", "fatal"]:
        s.log(f"level {level}", level=level, metadata={"level": level, "n": 1})
    s.log("no metadata")
    s.log("unicode ü → 😀", metadata={"nested": {"a": [1, 2.5, None, True]}})

    s.parameters().set(model={"lr": 0.001, "layers": [64, 32], "act": "relu"}, optimizer="adam", seed=42)
    s.parameters().set(model={"lr": 0.0005}, epochs=10)
    flat = s.parameters().get()
    nested = s.parameters().get(flatten=False)
    check(flat == {"model.lr": 0.0005, "model.layers": [64, 32], "model.act": "relu", "optimizer": "adam",
                   "seed": 42, "epochs": 10}, f"flat parameters: {flat}")
    check(nested["model"] == {"lr": 0.0005, "layers": [64, 32], "act": "relu"}, f"nested parameters: {nested}")
    out["params"] = flat

    t = s.track("train_loss", description="training loss", tags=["loss"], metadata={"unit": "nats"})
    t.append(value=0.9, step=0)
    r = s.track("train_loss").append_batch([{"value": 0.8 - i / 100, "step": i + 1} for i in range(250)])
    check(r["count"] == 250 and int(r["startIndex"]) == 1 and int(r["endIndex"]) == 250, f"append_batch: {r}")
    s.track("mixed").append(value=1, big=2 ** 62, neg=-3, f=1.5, s="text", b=False, n=None, arr=[1, "x"])
    page = s.track("train_loss").read(start_index=0, limit=100)
    check(len(page["data"]) == 100 and page["hasMore"] and page["data"][0]["data"] == {"value": 0.9, "step": 0},
          f"first page: {page['data'][:2]}, hasMore {page['hasMore']}")
    last = s.track("train_loss").read(start_index=200, limit=100)
    check(len(last["data"]) == 51 and not last["hasMore"] and last["data"][-1]["index"] == 250, "last page")
    stats = s.track("train_loss").stats()
    check(int(stats["totalDataPoints"]) == 251 and stats["description"] == "training loss"
          and stats["tags"] == ["loss"] and stats["metadata"] == {"unit": "nats"}, f"stats: {stats}")
    listed = sorted(x["name"] for x in s.track("any").list_all())
    check(listed == ["mixed", "train_loss"], f"list_all: {listed}")
    out["stats"] = {k: stats[k] for k in ["name", "description", "tags", "metadata", "totalDataPoints"]}

    model = os.path.join(scratch, "model.pth")
    with open(model, "wb") as f:
        f.write(bytes(range(256)) * 4096 + b"tail")
    config = os.path.join(scratch, "config.json")
    with open(config, "w") as f:
        json.dump({"lr": 0.001}, f)
    up = s.files().upload(model, path="/models", description="weights", tags=["model", "best"], metadata={"epoch": 3})
    check(up["checksum"] == hashlib.sha256(open(model, "rb").read()).hexdigest(), f"upload checksum: {up}")
    cfg = s.files().upload(config, path="/config", tags=["config"])
    gone = s.files().upload(config, path="/tmp")
    check(len(s.files().list()) == 3, "three files listed")
    check([f["filename"] for f in s.files().list(path="/models")] == ["model.pth"], "listing by path")
    check([f["id"] for f in s.files().list(tags=["config"])] == [cfg["id"]], "listing by tag")
    dest = s.file(file_id=up["id"], dest_path=os.path.join(scratch, "restored.pth")).download()
    check(open(dest, "rb").read() == open(model, "rb").read(), "downloaded bytes")
    updated = s.file(file_id=cfg["id"], description="the config", tags=["config", "v2"], metadata={"v": 2}).update()
    check(updated["description"] == "the config" and updated["tags"] == ["config", "v2"], f"update: {updated}")
    deleted = s.file(file_id=gone["id"]).delete()
    check(deleted["id"] == gone["id"] and deleted["deletedAt"], f"delete: {deleted}")
    check(sorted(f["filename"] for f in s.files().list()) == ["config.json", "model.pth"], "listing after delete")
    out["files"] = sorted((f["path"], f["filename"], f["sizeBytes"], f["checksum"]) for f in s.files().list())

# Direct control, then opened again: the session carries on.
s = Session(name="resumed", workspace=workspace, **options())
s.open()
s.parameters().set(epoch=0, learning_rate=0.001)
s.log("Starting epoch 1")
s.track("loss").append(value=0.5, epoch=1)
s.close()
with Session(name="resumed", workspace=workspace, description="resumed later", **options()) as s:
    s.log("Continuing training from checkpoint")
    s.track("loss").append(value=0.3, epoch=2)
    check(int(s.track("loss").stats()["totalDataPoints"]) == 2, "a resumed track carries on")
    check(s.parameters().get() == {"epoch": 0, "learning_rate": 0.001}, "resumed parameters")

# A name with "/" (Python's local mode cannot store one: it makes the folder
# without its parents), so only against a server: the client sends it unencoded.
if mode == "remote":
    with Session(name="slashed", workspace=workspace, **options()) as s:
        s.track("train/loss").append(value=0.25, step=1)
        s.track("train/loss").append_batch([{"value": 0.2, "step": 2}])
        check([p["data"]["step"] for p in s.track("train/loss").read()["data"]] == [1, 2], "a track named with /")
        check(s.track("train/loss").stats()["name"] == "train/loss", "its stats")

print(json.dumps(out, sort_keys=True))
