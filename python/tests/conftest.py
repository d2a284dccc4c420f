"""What the tests of dreamlake_engine share: a fresh folder per test, the `dreamlake` command
(DREAMLAKE_COMMAND, which scripts/python-test sets; the installed package itself needs no Swift),
and Python dreamlake 0.2.4's interpreter (DREAMLAKE_REFERENCE_PYTHON) for side-by-side runs."""
import json
import os
import subprocess

import pytest


@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path / "runs"


def command(*args):
    """Runs the `dreamlake` command; returns its standard output (raises on a non-zero exit)."""
    binary = os.environ.get("DREAMLAKE_COMMAND")
    if not binary:
        pytest.fail("DREAMLAKE_COMMAND is not set: run the tests with scripts/python-test")
    done = subprocess.run([binary, *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise AssertionError(f"dreamlake {' '.join(args)} exited {done.returncode}: {done.stderr}")
    return done.stdout


def reference_python():
    path = os.environ.get("DREAMLAKE_REFERENCE_PYTHON")
    if not path:
        pytest.fail("DREAMLAKE_REFERENCE_PYTHON is not set: run the tests with scripts/python-test")
    return path


def jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]
