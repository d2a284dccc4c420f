"""The seed document's examples, run with dreamlake_engine and with Python dreamlake 0.2.4: each
runs with only its import line changed, and what the engine wrote, exported to Python dreamlake's
layout by `dreamlake export`, is what Python dreamlake wrote, but for times and ids."""
import json
import os
import re
import subprocess
import sys

from conftest import Server, command, reference_python

HERE = os.path.dirname(__file__)
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z?$")


def normal(value):
    """`value` with times and generated ids replaced by placeholders."""
    if isinstance(value, dict):
        return {k: ("<id>" if k in ("id", "fileId", "sessionId", "trackId") and isinstance(v, str) else normal(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [normal(v) for v in value]
    if isinstance(value, str) and TIME.match(value):
        return "<time>"
    return value


def tree(folder):
    """Every file under `folder` by its place but lock files: JSON and JSONL files read (and made normal), others as bytes.
    Stored files' folders are named by their ids, so their places are made normal too."""
    out = {}
    for base, dirs, files in os.walk(folder):
        for name in files:
            if name.endswith(".lock"):
                continue  # Python dreamlake's empty lock files, which hold nothing of the session
            path = os.path.join(base, name)
            relative = os.path.relpath(path, folder)
            relative = re.sub(r"/files/[^/]+/[0-9]+/", "/files/<path>/<id>/", relative)
            with open(path, "rb") as f:
                raw = f.read()
            if name.endswith(".jsonl"):
                out[relative] = [normal(json.loads(line)) for line in raw.decode().splitlines() if line.strip()]
            elif name.endswith(".json"):
                out[relative] = normal(json.loads(raw))
            else:
                out[relative] = raw
    return out


def test_every_example_runs_and_writes_what_python_dreamlake_writes(tmp_path):
    """Each side runs the examples, the remote ones against a `dreamlake serve` of its own; what the engine
    wrote locally and what its server stored are each what Python dreamlake's side wrote and stored."""
    script = os.path.join(HERE, "seed_examples.py")
    runs = {}
    for side, python, module in (("ours", sys.executable, "dreamlake_engine"), ("theirs", reference_python(), "dreamlake")):
        server = Server(tmp_path / side / "server")
        try:
            runs[side] = subprocess.run(
                [python, script, module, str(tmp_path / side), server.url, server.key("your-username")], capture_output=True, text=True,
                env=dict(os.environ, DREAMLAKE_SPOOL=str(tmp_path / side / "spool")),  # a remote session's local copy
            )
        finally:
            server.stop()
        assert runs[side].returncode == 0, runs[side].stderr
        assert "seed examples: done" in runs[side].stdout
    assert runs["ours"].stdout == runs["theirs"].stdout
    for local_path in ("experiments", "data", "results", "server"):
        command("verify", "--root", str(tmp_path / "ours" / local_path))
        theirs = tmp_path / "theirs" / local_path
        if local_path == "server":  # Python dreamlake's side was stored by the server too: both are exported
            command("export", "--root", str(theirs), "--out", str(tmp_path / "theirs-exported"))
            theirs = tmp_path / "theirs-exported"
        command("export", "--root", str(tmp_path / "ours" / local_path), "--out", str(tmp_path / "exported" / local_path))
        exported = tree(tmp_path / "exported" / local_path)
        written = tree(theirs)
        assert sorted(exported) == sorted(written), local_path
        for place in written:
            assert exported[place] == written[place], f"{local_path}/{place}"
    assert sorted(os.listdir(tmp_path / "exported" / "server")) == ["production"]
