"""Writes sessions with the real Python dreamlake 0.2.4 (local mode) for the
interop tests: every log level with metadata, nested parameters set twice,
tracks with many points and mixed fields, a resumed session, uploaded,
updated, overwritten and deleted files, and the edge values.

Usage: python write_sessions.py <local_path> <scratch folder>
"""
import os
import sys

from dreamlake import Session

root, scratch = sys.argv[1], sys.argv[2]
os.makedirs(scratch, exist_ok=True)

LONG = "long text " * 5000
STRINGS = {
    "accents": "café naïve Ærøskøbing",
    "cjk": "学習率 損失",
    "emoji": "🚀 done 👍🏽",
    "controls": "tab\tnewline\ncr\rbell\x07nul\x00del\x7fesc\x1b",
    "quotes": 'she said "hi" \\ back/slash',
    "empty": "",
}
NUMBERS = {
    "negzero": -0.0, "nan": float("nan"), "inf": float("inf"), "ninf": float("-inf"),
    "big": 1e16, "small": 1e-05, "above53": 2**53 + 1, "imax": 2**63 - 1, "imin": -2**63,
    "between": 9498920000000000.0, "third": 1 / 3, "one": 1.0, "intone": 1,
}


def scratch_file(name, data):
    path = os.path.join(scratch, name)
    with open(path, "wb") as f:
        f.write(data)
    return path


with Session(name="edge", workspace="interop", local_path=root, description="every kind of record é",
             tags=["a", "学"], folder="/experiments/2026", metadata={"owner": "me", "k": [1, 2.5, None]}) as s:
    for level in ["debug", "info", "warn", "error", "fatal"]:
        s.log(f"{level} message", level=level, metadata={"level": level, "n": 1}, extra=True)
    s.log("no metadata")
    s.log("empty metadata", metadata={})
    s.log(metadata={"epoch": 1}).warn("builder form", code=7)
    for key, text in STRINGS.items():
        s.log(text, metadata={"key": key, "numbers": NUMBERS})
    s.log(LONG, level="debug")

    s.parameters().set(model={"lr": 0.001, "layers": [64, 32], "act": "relu"}, batch=32, name="run é")
    s.parameters().set(model={"lr": 0.0005}, extra=None, nested={"deep": {"er": {"est": True}}})

    loss = s.track("loss", description="training loss", tags=["train"], metadata={"unit": "nats"})
    for i in range(1500):
        loss.append(value=1.0 / (i + 1), step=i, epoch=i // 100)
    acc = s.track("accuracy")  # Python cannot make nested track folders
    acc.append_batch([{"value": i / 1000, "step": i} for i in range(2500)])
    mixed = s.track("mixed")
    mixed.append_batch([
        dict(NUMBERS),
        {"flag": True, "other": False, "none": None, "list": [1, "two", 3.0, None], "obj": {"a": {"b": []}}},
        dict(STRINGS),
        {"long": LONG},
        {"value": 0.5, "step": 1},
        {"step": 2, "value": 0.25},
        {},
    ])

    model = scratch_file("model.bin", bytes(range(256)) * 40)
    config = scratch_file("config.json", b'{"lr": 0.001}\n')
    notes = scratch_file("notes.txt", "unicode ✓ notes\n".encode())
    kept = s.files().upload(model, path="/models/best", description="weights", tags=["model"], metadata={"epoch": 3})
    s.files().upload(config, path="/config", tags=["config"])
    gone = s.files().upload(notes, path="/")
    s.file(file_id=kept["id"], description="best weights", tags=["model", "best"]).update()
    s.file(file_id=gone["id"]).delete()
    # Uploading the same name to the same path again replaces the entry (and its bytes).
    scratch_file("config.json", b'{"lr": 0.0005}\n')
    s.files().upload(config, path="/config", tags=["config", "v2"])

# Resumed: the session carries on.
with Session(name="edge", workspace="interop", local_path=root, description="resumed") as s:
    s.log("resumed")
    s.track("loss").append(value=0.0001, step=1500, epoch=15)
    s.parameters().set(resumed=True)

# A second workspace, a plain session.
with Session(name="plain", workspace="other", local_path=root) as s:
    s.log("hello")
    s.track("x").append(v=1)
